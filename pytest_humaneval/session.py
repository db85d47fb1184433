"""The run's one state object: plan, sandbox and results, registered with pytest as a plugin.

Its methods are the hooks that need state. On an xdist worker it collects and runs items; on the
controller (or in a run without xdist) it also gathers outcomes and writes the summary and reports.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .baseline import Baseline, Comparison, check_compatible, compare, load_baseline
from .dataset import load
from .errors import HumanEvalInputError, HumanEvalWarning
from .gate import Verdict, evaluate
from .generation import request_parts, sampling_warnings
from .items import SampleItem, collect_items
from .models import BUILTIN_SPECS
from .models.samples_file import write_samples
from .plan import Plan, build_plan
from .pool import SamplePool
from .report import (
    SCHEMA_VERSION,
    RunInfo,
    Summary,
    build_report,
    git_commit,
    summarize,
    terminal_lines,
    write_html,
    write_report,
    write_results,
)
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


def _local_dataset_files(config: pytest.Config, settings: Settings) -> tuple[str, ...]:
    """The dataset file, if it is one here: samples must not read the tests and their answers."""
    path = Path(settings.dataset)
    if not path.is_absolute():
        path = config.invocation_params.dir / path
    return (str(path),) if path.is_file() else ()


def load_checked_baseline(settings: Settings, plan: Plan) -> Baseline | None:
    """The baseline report, refused before anything runs if it cannot be compared with this plan."""
    if settings.baseline is None:
        return None
    baseline = load_baseline(settings.baseline, SCHEMA_VERSION)
    check_compatible(baseline, plan.dataset_name, plan.dataset_sha256, (p.task_id for p in plan.problems))
    return baseline


def add_junit_properties(config: pytest.Config, summary: Summary, verdict: Verdict | None) -> None:
    """pass@k and its interval as <testsuite> properties of --junitxml, where CI dashboards read them."""
    from _pytest.junitxml import xml_key  # no public API adds suite properties outside a test

    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for k, value in summary.pass_at_k.values.items():
        ci = summary.intervals[k]
        xml.add_global_property(f"humaneval_pass@{k}", f"{value:.6f}")
        xml.add_global_property(f"humaneval_pass@{k}_ci_low", f"{ci.low:.6f}")
        xml.add_global_property(f"humaneval_pass@{k}_ci_high", f"{ci.high:.6f}")
    if verdict is not None:
        xml.add_global_property("humaneval_gates", "met" if verdict.met else "failed")


class HumanEvalSession:
    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        plan: Plan,
        only_humaneval: bool,
        baseline: Baseline | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.plan = plan
        # With no paths on the command line, the run is the evaluation alone: the project's own
        # tests are collected only when named explicitly.
        self.only_humaneval = only_humaneval
        self.is_worker = _is_worker(config)
        self._sandbox: Sandbox | None = None
        self._pool: SamplePool | None = None
        self._positions: dict[int, int] | None = None  # item -> its place in session.items
        self._positions_of: list[pytest.Item] | None = None
        self._by_nodeid = {sample.nodeid: sample for sample in plan.samples}
        self.outcomes: dict[str, Outcome] = {}
        self.baseline = baseline
        self.started = time.perf_counter()
        self.started_at = datetime.now(timezone.utc)
        self.summary: Summary | None = None
        self.comparison: Comparison | None = None
        self.verdict: Verdict | None = None
        self.own_failures = 0  # failed reports of the project's own tests, which gates do not excuse
        self.written: list[str] = []

    @classmethod
    def from_config(cls, config: pytest.Config, settings: Settings) -> HumanEvalSession:
        if _is_worker(config):
            shipped = config.workerinput[WORKERINPUT_KEY]  # type: ignore[attr-defined]
            return cls(config, settings, Plan.from_json(shipped["plan"]), shipped["only_humaneval"])
        only = config.args_source != pytest.Config.ArgsSource.ARGS
        plan = make_plan(config, settings)
        return cls(config, settings, plan, only, load_checked_baseline(settings, plan))

    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = self._new_sandbox()
            self._warn_gaps(self._sandbox)
        return self._sandbox

    def _new_sandbox(self) -> Sandbox:
        limits = Limits(timeout=self.settings.timeout, memory=self.settings.memory)
        return Sandbox(limits, hide=_local_dataset_files(self.config, self.settings))

    def _warn_gaps(self, sandbox: Sandbox) -> None:
        sandbox.start()
        gaps = sandbox.isolation_gaps()
        if gaps:
            # Once per process, as a pytest warning: the run goes on with what the kernel allows.
            warnings.warn(
                pytest.PytestWarning(
                    "humaneval: the sandbox runs with reduced isolation on this machine: " + "; ".join(gaps)
                ),
                stacklevel=1,
            )

    def run_sample(self, item: SampleItem) -> Outcome:
        """The outcome of one item's sample: run here, or taken from the pool that runs ahead."""
        if self.jobs == 1:
            return self.sandbox().run(item.program())
        pool = self._sample_pool()
        items = item.session.items
        if self._positions is None or self._positions_of is not items:
            self._positions = {id(each): i for i, each in enumerate(items)}
            self._positions_of = items
        here = self._positions.get(id(item))
        if here is not None:
            for upcoming in items[here : here + pool.lookahead]:
                if isinstance(upcoming, SampleItem):
                    pool.submit(upcoming.nodeid, upcoming.program)
        return pool.outcome(item.nodeid, item.program)

    @property
    def jobs(self) -> int:
        """Samples at once in this process: an xdist worker runs one, as it is sent one item at a time."""
        return 1 if self.is_worker else self.settings.jobs

    def _sample_pool(self) -> SamplePool:
        if self._pool is None:
            sandboxes = [self._new_sandbox() for _ in range(self.jobs)]
            self._warn_gaps(sandboxes[0])  # starts the first server, here in the main thread
            for sandbox in sandboxes[1:]:
                sandbox.start()  # and the others: a server dies with the thread that started it
            self._pool = SamplePool(sandboxes)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # ------------------------------------------------------------------ collection

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        return True if self.only_humaneval else None

    @pytest.hookimpl(tryfirst=True)  # before -k, -m and --lf look at the items
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        items[:0] = collect_items(session, self)

    def pytest_collection_finish(self) -> None:
        # The items, the plan and everything loaded so far live until the session ends. Out of the
        # collector's reach they are never walked again: with thousands of items, full collections
        # triggered by the reports that accumulate would otherwise walk them all, again and again.
        gc.collect()
        gc.freeze()

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
        self.started_at = datetime.now(timezone.utc)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        sample = self._by_nodeid.get(report.nodeid)
        if sample is None:
            self.own_failures += report.failed
            return
        if sample.name in self.outcomes:
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

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A project test file that does not import, under --continue-on-collection-errors.
        if not self.is_worker and report.failed:
            self.own_failures += 1

    @pytest.hookimpl(tryfirst=True)  # before --junitxml writes its file, which carries pass@k
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.close()
        if self.is_worker:
            return
        settings = self.settings
        self.summary = summarize(self.plan, self.outcomes, settings.k, time.perf_counter() - self.started)
        if self.baseline is not None:
            self.comparison = compare(
                self.baseline, self.summary.per_problem, settings.k, settings.to_json(), __version__
            )
        if settings.gated:
            self.verdict = evaluate(
                self.summary.pass_at_k,
                settings.fail_under,
                self.comparison,
                settings.max_drop,
                settings.alpha,
            )
            session.exitstatus = self._gated_exit_status(session.exitstatus, self.verdict)
        if settings.report is not None or settings.html is not None:
            run = RunInfo(self.started_at, datetime.now(timezone.utc), git_commit(self.config.rootpath))
            report = build_report(
                self.plan, self.outcomes, self.summary, settings.to_json(), run, self.comparison, self.verdict
            )
            if settings.report is not None:
                write_report(settings.report, report)
                self.written.append(f"report written to {settings.report}")
            if settings.html is not None:
                write_html(settings.html, report)
                self.written.append(f"HTML report written to {settings.html}")
        if settings.results is not None:
            write_results(settings.results, self.plan, self.outcomes)
            self.written.append(f"results written to {settings.results}")
        add_junit_properties(self.config, self.summary, self.verdict)

    def _gated_exit_status(self, status: int | pytest.ExitCode, verdict: Verdict) -> int | pytest.ExitCode:
        """With gates, failing samples no longer decide the exit status; the gates (and the project's
        own tests, when they ran too) do. Interruptions and usage errors keep their status."""
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return status
        if verdict.met and not self.own_failures:
            return pytest.ExitCode.OK
        return pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None or (self.summary.samples_run == 0 and self.config.option.collectonly):
            return
        terminalreporter.write_sep("=", "humaneval")
        lines = terminal_lines(self.plan, self.summary, self.comparison, self.verdict)
        for line in lines + self.written:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self.close()
        gc.unfreeze()  # what the session froze can be freed again (pytester runs sessions in-process)


class XdistBridge:
    """Ships the plan to every worker, so workers need neither the dataset nor the model."""

    def __init__(self, state: HumanEvalSession) -> None:
        self.state = state
        self._shipped: dict[str, Any] | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self._shipped is None:
            self._shipped = {"plan": self.state.plan.to_json(), "only_humaneval": self.state.only_humaneval}
        node.workerinput[WORKERINPUT_KEY] = self._shipped
