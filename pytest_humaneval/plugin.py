"""The pytest11 entry point: hook implementations only. Inert unless --humaneval-model is given."""

from __future__ import annotations

import os

import pytest

from .errors import HumanEvalInputError
from .retry import GenerationError
from .settings import ALL_OPTIONS, resolve


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("humaneval", "HumanEval evaluation (pytest-humaneval)")
    for option in ALL_OPTIONS:
        dest = option.ini
        if option.repeatable:
            group.addoption(option.flag, dest=dest, metavar=option.metavar, action="append", help=option.help)
            parser.addini(option.ini, help=option.help, type="linelist", default=[])
            continue
        group.addoption(option.flag, dest=dest, metavar=option.metavar, default=None, help=option.help)
        parser.addini(option.ini, help=option.help, default="")


@pytest.hookimpl(trylast=True)
def pytest_humaneval_make_backend(spec: str, config: pytest.Config) -> object | None:
    """The built-in backends (models.BUILTIN_SPECS): canonical, samples:, openai:, hf:, python:."""
    from .models import builtin_backend

    return builtin_backend(spec, config.invocation_params.dir)


@pytest.hookimpl(tryfirst=True)  # before xdist's session starts workers, which need the plan
def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = resolve(
            cli=lambda name: config.getoption(f"humaneval_{name.replace('-', '_')}"),
            ini=config.getini,
            environ=os.environ,
            base_dir=config.invocation_params.dir,
        )
        if not settings.active:
            return
        from .session import PLUGIN_NAME, STATE, HumanEvalSession, XdistBridge

        state = HumanEvalSession.from_config(config, settings)
    except HumanEvalInputError as exc:
        raise pytest.UsageError(str(exc)) from None
    except GenerationError as exc:
        pytest.exit(f"humaneval: generation failed: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
    config.stash[STATE] = state
    if state.only_humaneval and config.option.tbstyle == "auto":
        # Each failure is one line already; pytest's long failure summary grows quadratically with
        # the number of failures (thousands in a sampled run). --tb=short or long shows completions.
        config.option.tbstyle = "line"
    config.pluginmanager.register(state, PLUGIN_NAME)
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistBridge(state), f"{PLUGIN_NAME}-xdist")
