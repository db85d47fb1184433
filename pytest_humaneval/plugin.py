"""The pytest11 entry point: hook implementations only. Inert unless --humaneval-model is given.

``pytest_configure`` only resolves the settings and registers the run's parts, each where it runs:

* the :class:`~.controller.Controller` (plans at session start, gathers results, reports) on the process
  that reports: a run without xdist, or xdist's controller;
* the :class:`~.items.SuiteCollection` (adds the samples to the collection) wherever pytest collects;
* the :class:`~.runner.SampleRunner` (judges samples) wherever items run: a run without xdist, or a worker;
* the :class:`~.distribute.Shipper` (sends settings and plan to workers) on xdist's controller.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .errors import HumanEvalInputError
from .settings import ALL_OPTIONS, Settings, resolve

if TYPE_CHECKING:
    from .plan import Plan


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
    """The built-in backends (see ``pytest_humaneval.models.builtins``)."""
    from .models import builtin_backend

    return builtin_backend(spec, config.invocation_params.dir)


@pytest.hookimpl(tryfirst=True)  # registered before xdist's session, whose hooks come after ours
def pytest_configure(config: pytest.Config) -> None:
    if config.option.help:
        return  # --help must work whatever the ini file says: it is where valid values are shown
    if any(getattr(config.option, name, False) for name in ("showfixtures", "show_fixtures_per_test")):
        return  # these list the project's fixtures; they have no samples to collect
    plan: Callable[[], Plan]
    if hasattr(config, "workerinput"):  # an xdist worker: everything as the controller resolved it
        from .distribute import received

        shipment = received(config)
        if shipment is None:  # the controller was asked for no evaluation
            return
        settings, only_humaneval, hide = shipment.settings, shipment.only_humaneval, shipment.hide
        plan = functools.cache(shipment.plan)
    else:
        try:
            settings = resolve(
                cli=lambda name: config.getoption(f"humaneval_{name.replace('-', '_')}"),
                ini=config.getini,
                environ=os.environ,
                base_dir=config.invocation_params.dir,
            )
        except HumanEvalInputError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not settings.active:
            return
        only_humaneval = config.args_source != pytest.Config.ArgsSource.ARGS
        hide = _local_dataset_files(config.invocation_params.dir, settings)
        plan = _register_controller(config, settings, only_humaneval, hide)
    _register_collection_and_runner(config, settings, only_humaneval, hide, plan)
    if only_humaneval:
        _readable_failures(config)


def _register_controller(
    config: pytest.Config, settings: Settings, only_humaneval: bool, hide: tuple[str, ...]
) -> Callable[[], Plan]:
    from .controller import PLUGIN_NAME, Controller

    controller = Controller(config, settings)
    config.pluginmanager.register(controller, PLUGIN_NAME)
    if config.pluginmanager.hasplugin("xdist"):
        from .distribute import PLUGIN_NAME as SHIPPER_NAME
        from .distribute import Shipment, Shipper

        def shipment() -> Shipment:
            return Shipment(settings, only_humaneval, hide, controller.plan.to_wire())

        config.pluginmanager.register(Shipper(shipment), SHIPPER_NAME)
    return lambda: controller.plan


def _register_collection_and_runner(
    config: pytest.Config,
    settings: Settings,
    only_humaneval: bool,
    hide: tuple[str, ...],
    plan: Callable[[], Plan],
) -> None:
    from .items import SuiteCollection
    from .runner import PLUGIN_NAME, RUNNER, SampleRunner

    worker = hasattr(config, "workerinput")
    if not worker and _distributed(config):
        return  # xdist's controller neither collects nor runs items
    config.pluginmanager.register(SuiteCollection(plan, settings.timeout, only_humaneval), "humaneval-suite")
    # A worker is sent one item at a time: it runs one sample at a time.
    runner = SampleRunner(settings, hide, jobs=1 if worker else settings.jobs)
    config.stash[RUNNER] = runner
    config.pluginmanager.register(runner, PLUGIN_NAME)


def _distributed(config: pytest.Config) -> bool:
    """Whether xdist will run this session's items on workers (its own test, from its pytest_configure)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return False
    return config.getoption("dist", "no") != "no" and not config.getoption("collectonly")


def _local_dataset_files(base_dir: Path, settings: Settings) -> tuple[str, ...]:
    """The dataset file, if it is one here, and HumanEval+'s data directory (its files and the expected
    outputs): samples must not read the tests and their answers."""
    from .plus import data_dir

    path = Path(settings.dataset)
    if not path.is_absolute():
        path = base_dir / path
    return ((str(path),) if path.is_file() else ()) + (str(data_dir(settings)),)


def _readable_failures(config: pytest.Config) -> None:
    """An evaluation's log stays readable at any size: one line per failing sample unless asked for more.

    pytest's FAILURES section would print each failing sample's report (thousands in a sampled run);
    the short summary's FAILED line already carries the reason. ``--tb=short`` or ``-v`` shows the
    completions; the reports always have them.
    """
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short" if config.get_verbosity() > 0 else "no"
