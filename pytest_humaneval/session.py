"""The run's one state object: plan, sandbox and results, registered with pytest as a plugin.

Its methods are the hooks that need state. On an xdist worker it collects and runs items; on the
controller (or in a run without xdist) it also gathers outcomes and writes the summary and reports.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .dataset import load
from .errors import HumanEvalInputError, HumanEvalWarning
from .generation import request_parts, sampling_warnings
from .items import collect_items
from .models import BUILTIN_SPECS
from .models.samples_file import write_samples
from .plan import Plan, build_plan
from .report import Summary, build_report, summarize, terminal_lines, write_report, write_results
from .sandbox import Limits, Outcome, OutcomeKind, Sandbox
from .settings import Settings

STATE = pytest.StashKey["HumanEvalSession"]()
PLUGIN_NAME = "humaneval-session"
WORKERINPUT_KEY = "humaneval"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def make_plan(config: pytest.Config, settings: Settings) -> Plan:
    """Load the dataset, find the backend and ask it for samples (controller side)."""
    assert settings.model is not None
    base_dir = config.invocation_params.dir
    dataset = load(settings.dataset, base_dir)
    backend = config.hook.pytest_humaneval_make_backend(spec=settings.model, config=config)
    if backend is None:
        raise HumanEvalInputError(
            f"--humaneval-model={settings.model!r} names no known backend; use one of {BUILTIN_SPECS}, "
            "or install the plugin that provides this prefix"
        )
    sampling, options = request_parts(settings, _cache_dir(config, settings), _progress(config), base_dir)
    for message in sampling_warnings(settings.n, sampling):
        config.issue_config_time_warning(HumanEvalWarning(message), stacklevel=2)
    plan = build_plan(backend, dataset, settings.tasks, settings.n, sampling, options)
    if settings.save_samples is not None:
        write_samples(settings.save_samples, ((s.task_id, s.completion) for s in plan.samples))
    return plan


def _cache_dir(config: pytest.Config, settings: Settings) -> Path | None:
    """--humaneval-cache-dir, else humaneval/ in pytest's cache directory; None when caching is off."""
    if not settings.use_cache:
        return None
    if settings.cache_dir is not None:
        return settings.cache_dir
    if not config.pluginmanager.hasplugin("cacheprovider"):  # -p no:cacheprovider: no cache at all
        return None
    # config.cache does not exist yet (our pytest_configure runs first); find its place as pytest does.
    where = Path(os.path.expanduser(os.path.expandvars(str(config.getini("cache_dir")))))
    return config.rootpath / where / "d" / "humaneval"


def _progress(config: pytest.Config) -> bool:
    """A progress bar only on a terminal, and not when pytest is asked to be quiet."""
    return sys.stderr.isatty() and config.get_verbosity() >= 0


class HumanEvalSession:
    def __init__(self, config: pytest.Config, settings: Settings, plan: Plan, only_humaneval: bool) -> None:
        self.config = config
        self.settings = settings
        self.plan = plan
        # With no paths on the command line, the run is the evaluation alone: the project's own
        # tests are collected only when named explicitly.
        self.only_humaneval = only_humaneval
        self.is_worker = _is_worker(config)
        self._sandbox: Sandbox | None = None
        self._by_nodeid = {sample.nodeid: sample for sample in plan.samples}
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.perf_counter()
        self.summary: Summary | None = None
        self.written: list[str] = []

    @classmethod
    def from_config(cls, config: pytest.Config, settings: Settings) -> HumanEvalSession:
        if _is_worker(config):
            shipped = config.workerinput[WORKERINPUT_KEY]  # type: ignore[attr-defined]
            return cls(config, settings, Plan.from_json(shipped["plan"]), shipped["only_humaneval"])
        only = config.args_source != pytest.Config.ArgsSource.ARGS
        return cls(config, settings, make_plan(config, settings), only)

    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(Limits(timeout=self.settings.timeout, memory=self.settings.memory))
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # ------------------------------------------------------------------ collection

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        return True if self.only_humaneval else None

    @pytest.hookimpl(tryfirst=True)  # before -k, -m and --lf look at the items
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        items[:0] = collect_items(session, self)

    def pytest_report_header(self) -> list[str]:
        plan, settings = self.plan, self.settings
        memory = f"{settings.memory / 1024**2:.0f} MiB" if settings.memory else "no limit"
        return [
            f"humaneval: model {plan.model}, dataset {plan.dataset_name}, {len(plan.problems)} problems, "
            f"{len(plan.samples)} samples, timeout {settings.timeout:g} s, memory {memory}"
        ]

    # ------------------------------------------------------------------ results (controller)

    def pytest_sessionstart(self) -> None:
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        sample = self._by_nodeid.get(report.nodeid)
        if sample is None or sample.name in self.outcomes:
            return
        shipped = dict(report.user_properties).get("humaneval")
        if report.when == "call" and isinstance(shipped, dict):
            self.outcomes[sample.name] = Outcome.from_json(shipped)
        elif report.failed:
            # No verdict from the sandbox: the worker crashed, or the pytest-timeout backstop fired.
            text = report.longreprtext.strip().splitlines()
            why = text[-1] if text else f"failed in {report.when} without a verdict"
            kind: OutcomeKind = "timeout" if "Timeout" in why else "crashed"
            self.outcomes[sample.name] = Outcome(kind=kind, message=why, duration=report.duration)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.close()
        if self.is_worker:
            return
        self.summary = summarize(
            self.plan, self.outcomes, self.settings.k, time.perf_counter() - self.started
        )
        if self.settings.report is not None:
            report = build_report(self.plan, self.outcomes, self.summary, self.settings.to_json())
            write_report(self.settings.report, report)
            self.written.append(f"report written to {self.settings.report}")
        if self.settings.results is not None:
            write_results(self.settings.results, self.plan, self.outcomes)
            self.written.append(f"results written to {self.settings.results}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None or (self.summary.samples_run == 0 and self.config.option.collectonly):
            return
        terminalreporter.write_sep("=", "humaneval")
        for line in terminal_lines(self.plan, self.summary) + self.written:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self.close()


class XdistBridge:
    """Ships the plan to every worker, so workers need neither the dataset nor the model."""

    def __init__(self, state: HumanEvalSession) -> None:
        self.state = state
        self._shipped: dict[str, Any] | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self._shipped is None:
            self._shipped = {"plan": self.state.plan.to_json(), "only_humaneval": self.state.only_humaneval}
        node.workerinput[WORKERINPUT_KEY] = self._shipped
