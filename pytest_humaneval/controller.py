"""The controller's side of a run: the plan, the results, the summary, the reports and the gates' verdict.

Registered only on the process that reports (a run without xdist, or xdist's controller), never on a
worker. It plans when the session starts, not at configure time: ``pytest_configure`` also runs for
``--help`` and ``--markers``, which must never call a model. Its ``pytest_sessionstart`` runs first,
before xdist's starts the workers, which are sent the plan.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Generator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .baseline import Baseline, Comparison, check_compatible, compare, load_baseline
from .errors import HumanEvalInputError, HumanEvalWarning
from .gate import Verdict
from .generation import GenerationError, request_parts, sampling_warnings
from .generation.sameness import identical_answers_warning
from .models import BUILTIN_SPECS
from .models.samples_file import write_samples
from .plan import Plan, Sample, build_plan
from .plus import load_dataset, with_suite
from .plus.figures import (
    BaseFigures,
    base_figures,
    gates,
    junit_properties,
    mark_samples,
    report_fields,
)
from .plus.figures import terminal_lines as plus_terminal_lines
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
from .runner import REQUIRE_FLAG, RUNNER, IsolationRefused
from .sandbox import Isolation, Limits, Outcome, OutcomeKind, Sandbox, refusal
from .settings import Settings, default_ks

PLUGIN_NAME = "humaneval-controller"


def make_plan(config: pytest.Config, settings: Settings) -> Plan:
    """Load the dataset, find the backend and ask it for samples."""
    assert settings.model is not None
    base_dir = config.invocation_params.dir
    dataset = load_dataset(settings, base_dir, _progress(config))
    backend = config.hook.pytest_humaneval_make_backend(spec=settings.model, config=config)
    if backend is None:
        raise HumanEvalInputError(
            f"--humaneval-model={settings.model!r} names no known backend; use one of {BUILTIN_SPECS}, "
            "or install the plugin that provides this prefix"
        )
    sampling, options = request_parts(settings, _cache_dir(config, settings), _progress(config), base_dir)
    for message in sampling_warnings(settings.n, sampling):
        config.issue_config_time_warning(HumanEvalWarning(message), stacklevel=2)
    plan = with_suite(
        build_plan(backend, dataset, settings.tasks, settings.n, sampling, options), dataset, settings
    )
    alike = identical_answers_warning(plan.samples, sampling.temperature)
    if alike is not None:
        config.issue_config_time_warning(HumanEvalWarning(alike), stacklevel=2)
    if settings.save_samples is not None:
        write_samples(settings.save_samples, ((s.task_id, s.completion) for s in plan.samples))
    return plan


def _cache_dir(config: pytest.Config, settings: Settings) -> Path | None:
    """--humaneval-cache-dir, else humaneval/ in pytest's cache directory; None when caching is off."""
    if not settings.use_cache:
        return None
    if settings.cache_dir is not None:
        return settings.cache_dir
    cache = getattr(config, "cache", None)
    if cache is None:  # -p no:cacheprovider: no cache at all
        return None
    directory: Path = cache.mkdir("humaneval")
    return directory


def _progress(config: pytest.Config) -> bool:
    """A progress bar only on a terminal, and not when pytest is asked to be quiet."""
    return sys.stderr.isatty() and config.get_verbosity() >= 0


def load_checked_baseline(settings: Settings, plan: Plan) -> Baseline | None:
    """The baseline report, refused before anything runs if it cannot be compared with this plan."""
    if settings.baseline is None:
        return None
    baseline = load_baseline(settings.baseline, SCHEMA_VERSION)
    check_compatible(baseline, plan.dataset_name, plan.dataset_sha256, (p.task_id for p in plan.problems))
    return baseline


def add_junit_properties(
    config: pytest.Config,
    summary: Summary,
    verdict: Verdict | None,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
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
    for name, text in extra:  # HumanEval+'s base figure
        xml.add_global_property(name, text)
    if verdict is not None:
        xml.add_global_property("humaneval_gates", "met" if verdict.met else "failed")


def ks_for(settings: Settings, plan: Plan) -> tuple[int, ...]:
    """The ks the user named, else the default ks that the plan's largest n allows and those gated on."""
    if settings.k is not None:
        return settings.k
    per_problem = Counter(sample.task_id for sample in plan.samples)
    ks = list(default_ks(max(per_problem.values(), default=1)))
    for threshold in settings.fail_under + settings.max_drop:
        if threshold.k is not None and threshold.k not in ks:
            ks.append(threshold.k)  # a gate on a k that cannot be computed then says why
    return tuple(sorted(ks))


def probe_isolation(config: pytest.Config, settings: Settings) -> Isolation:
    """What a sandbox on this machine enforces; refuses a run that requires more
    (--humaneval-require-isolation) with a UsageError.

    Where items run in this process, its runner's first sandbox answers, started now rather than for the
    first item; xdist's controller runs none, and starts and stops one to ask.
    """
    runner = config.stash.get(RUNNER, None)
    if runner is not None:
        try:
            return runner.isolation()
        except IsolationRefused as exc:
            raise pytest.UsageError(f"humaneval: {exc}") from None
    with Sandbox(Limits(timeout=settings.timeout, memory=settings.memory)) as sandbox:
        found = Isolation.from_report(sandbox.start())
    refused = refusal(found, settings.require_isolation, REQUIRE_FLAG)
    if refused is not None:
        raise pytest.UsageError(f"humaneval: {refused}")
    return found


class Controller:
    """Plans the run, gathers every sample's outcome from the reports, and reports pass@k."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._plan: Plan | None = None
        self._by_nodeid: dict[str, Sample] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.baseline: Baseline | None = None
        self.started = time.perf_counter()
        self.started_at = datetime.now(timezone.utc)
        self.generation_seconds = 0.0
        self.summary: Summary | None = None
        self.comparison: Comparison | None = None
        self.verdict: Verdict | None = None
        self.base: BaseFigures | None = None  # HumanEval+'s base pass@k, beside the headline plus figure
        self.own_failures = 0  # failed reports of the project's own tests, which gates do not excuse
        self.written: list[str] = []
        self.isolation: Isolation | None = None

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            raise RuntimeError("the humaneval plan is made when the session starts")
        return self._plan

    @pytest.hookimpl(tryfirst=True)  # before xdist starts its workers, which are sent the plan
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.perf_counter()
        self.started_at = datetime.now(timezone.utc)
        try:
            plan = make_plan(self.config, self.settings)
            self.baseline = load_checked_baseline(self.settings, plan)
        except HumanEvalInputError as exc:
            raise pytest.UsageError(str(exc)) from None
        except GenerationError as exc:
            pytest.exit(f"humaneval: generation failed: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
        self.generation_seconds = time.perf_counter() - self.started
        if not self.config.option.collectonly:
            self.isolation = probe_isolation(self.config, self.settings)
        self._plan = plan
        self._by_nodeid = {sample.nodeid: sample for sample in plan.samples}

    def pytest_report_header(self) -> list[str]:
        if self._plan is None:
            return []
        plan, settings = self.plan, self.settings
        memory = f"{settings.memory / 1024**2:.0f} MiB" if settings.memory else "no limit"
        lines = [
            f"humaneval: model {plan.model}, dataset {plan.dataset_name}, {len(plan.problems)} problems, "
            f"{len(plan.samples)} samples, timeout {settings.timeout:g} s, memory {memory}"
        ]
        if self.isolation is not None:
            lines.append(f"humaneval: {self.isolation.describe()}")
        return lines

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
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
        if report.failed:
            self.own_failures += 1

    @pytest.hookimpl(tryfirst=True)  # before --junitxml writes its file, which carries pass@k
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._plan is None:
            return
        plan, settings = self.plan, self.settings
        ks = ks_for(settings, plan)
        self.summary = summarize(plan, self.outcomes, ks, time.perf_counter() - self.started)
        if self.baseline is not None:
            self.comparison = compare(
                self.baseline, self.summary.per_problem, ks, settings.to_json(), __version__
            )
        self.base = base_figures(plan, self.outcomes, ks) if plan.plus is not None else None
        if settings.gated:
            self.verdict = gates(
                self.summary.pass_at_k,
                self.base,
                settings.fail_under,
                self.baseline,
                self.comparison,
                settings.max_drop,
                settings.alpha,
                ks,
                settings.to_json(),
                __version__,
            )
            session.exitstatus = self._gated_exit_status(session.exitstatus, self.verdict)
        if settings.report is not None or settings.html is not None:
            run = RunInfo(self.started_at, datetime.now(timezone.utc), git_commit(self.config.rootpath))
            report = build_report(
                plan, self.outcomes, self.summary, settings.to_json(), run, self.comparison, self.verdict
            )
            if self.isolation is not None:
                report["isolation"] = self.isolation.to_json()
            if self.base is not None:
                report.update(report_fields(self.base))
                mark_samples(report["samples"])
            if settings.report is not None:
                write_report(settings.report, report)
                self.written.append(f"report written to {settings.report}")
            if settings.html is not None:
                write_html(settings.html, report)
                self.written.append(f"HTML report written to {settings.html}")
        if settings.results is not None:
            write_results(settings.results, plan, self.outcomes)
            self.written.append(f"results written to {settings.results}")
        extra = junit_properties(self.base) if self.base is not None else []
        add_junit_properties(self.config, self.summary, self.verdict, extra)

    def _gated_exit_status(self, status: int | pytest.ExitCode, verdict: Verdict) -> int | pytest.ExitCode:
        """With gates, failing samples no longer decide the exit status; the gates (and the project's
        own tests, when they ran too) do. Interruptions and usage errors keep their status."""
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return status
        if verdict.met and not self.own_failures:
            return pytest.ExitCode.OK
        return pytest.ExitCode.TESTS_FAILED

    # Outermost, so that what follows the yield comes after pytest's short test summary: pass@k and the
    # gates' verdict are the last lines before pytest's own count.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None]:
        yield
        if self.summary is None or (self.summary.samples_run == 0 and self.config.option.collectonly):
            return
        terminalreporter.write_sep("=", "humaneval")
        generation = self.plan.provenance.describe(self.plan.model, self.generation_seconds)
        lines = terminal_lines(self.plan, self.summary, self.comparison, self.verdict, generation)
        if self.isolation is not None:
            lines.insert(2, self.isolation.describe())  # after the model and the dataset
        if self.base is not None:
            lines = plus_terminal_lines(lines, self.summary.pass_at_k, self.summary.intervals, self.base)
        for line in lines + self.written:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        config.pluginmanager.unregister(self)
