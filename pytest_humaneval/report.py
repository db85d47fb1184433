"""Results of a run: per-sample outcomes in, pass@k summary, terminal lines and report files out.

Plain Python; the controller-side pytest object in :mod:`.controller` feeds it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from .baseline import Comparison
from .gate import Verdict
from .passk import PassAtK, aggregate
from .plan import Plan, Sample
from .sandbox import OUTCOME_KINDS, Outcome
from .stats import BOOTSTRAP_METHOD, Interval, pass_at_k_interval
from .tampering import TamperCounts

# 1: the first versioned layout (adds schema_version, run, pass_at_k_ci, baseline, gates).
SCHEMA_VERSION = 1
CHANGES_SHOWN = 20  # problems listed per direction in the terminal; the reports list them all


@dataclass(frozen=True)
class Summary:
    pass_at_k: PassAtK
    intervals: dict[int, Interval]  # k -> bootstrap interval, for each k in pass_at_k.values
    counts: dict[str, int]  # outcome kind -> samples
    samples_run: int
    samples_planned: int
    problems_evaluated: int  # problems with at least one sample run
    problems_solved: int
    per_problem: dict[str, tuple[int, int]]  # task id -> (n, c) over the samples that ran
    duration: float  # wall-clock seconds of the whole run
    sandbox_time: float  # seconds spent inside sample processes, summed
    notes: tuple[str, ...]
    tampering: TamperCounts = field(default_factory=TamperCounts)


def summarize(plan: Plan, outcomes: Mapping[str, Outcome], ks: tuple[int, ...], duration: float) -> Summary:
    """Aggregate the outcomes (keyed by sample name) of the samples that ran."""
    per_problem: dict[str, tuple[int, int]] = {}
    counts = dict.fromkeys(OUTCOME_KINDS, 0)
    for sample in plan.samples:
        outcome = outcomes.get(sample.name)
        if outcome is None:
            continue
        n, c = per_problem.get(sample.task_id, (0, 0))
        per_problem[sample.task_id] = (n + 1, c + outcome.passed)
        counts[outcome.kind] += 1
    samples_run = sum(counts.values())
    notes = list(plan.notes)
    not_run = len(plan.samples) - samples_run
    if not_run:
        notes.append(
            f"{not_run} of {len(plan.samples)} samples did not run (deselected, or the run stopped early); "
            f"pass@k covers the {samples_run} that did, over {len(per_problem)} problems"
        )
    n_values = {n for n, _ in per_problem.values()}
    if len(n_values) > 1:
        notes.append(
            f"problems have different numbers of samples (n from {min(n_values)} to {max(n_values)})"
        )
    pass_at_k = aggregate(per_problem, ks)
    return Summary(
        pass_at_k=pass_at_k,
        intervals={k: pass_at_k_interval(list(per_problem.values()), k) for k in pass_at_k.values},
        counts=counts,
        samples_run=samples_run,
        samples_planned=len(plan.samples),
        problems_evaluated=len(per_problem),
        problems_solved=sum(1 for _, c in per_problem.values() if c),
        per_problem=per_problem,
        duration=duration,
        sandbox_time=sum(o.duration for o in outcomes.values()),
        notes=tuple(notes),
        tampering=TamperCounts.of(o for s in plan.samples if (o := outcomes.get(s.name)) is not None),
    )


def terminal_lines(
    plan: Plan,
    summary: Summary,
    comparison: Comparison | None = None,
    verdict: Verdict | None = None,
    generation: str | None = None,
) -> list[str]:
    """The humaneval section of the terminal summary: short enough for a CI log."""
    lines = [f"model: {plan.model}", f"dataset: {plan.dataset_name} (sha256 {plan.dataset_sha256[:12]})"]
    n_values = sorted({n for n, _ in summary.per_problem.values()})
    n_text = f"n={n_values[0]}" if len(n_values) == 1 else f"n={n_values[0]}..{n_values[-1]}"
    for k, value in summary.pass_at_k.values.items():
        ci = summary.intervals[k]
        lines.append(
            f"pass@{k}: {value:.4f}  ({ci.level:.0%} CI {ci.low:.4f}-{ci.high:.4f}, "
            f"{summary.problems_evaluated} problems, {n_text})"
        )
    for k, reason in summary.pass_at_k.skipped.items():
        lines.append(f"pass@{k}: not computed: {reason}")
    counts = ", ".join(f"{count} {kind}" for kind, count in summary.counts.items())
    lines.append(f"samples: {summary.samples_run} run: {counts}")
    tampered = summary.tampering.line(summary.samples_run)
    if tampered is not None:
        lines.append(tampered)
    lines.append(f"problems solved: {summary.problems_solved} of {summary.problems_evaluated}")
    lines.append(f"time: {summary.duration:.2f} s wall, {summary.sandbox_time:.2f} s inside sample processes")
    if generation is not None:
        lines.append(generation)
    lines.extend(f"note: {note}" for note in summary.notes)
    if comparison is not None:
        lines.extend(comparison_lines(comparison))
    if verdict is not None:
        lines.extend(verdict.lines())
    return lines


def comparison_lines(comparison: Comparison) -> list[str]:
    baseline = comparison.baseline
    lines = [
        f"baseline: {baseline.model} from {baseline.path} ({len(comparison.problems)} problems compared)"
    ]
    for k, result in comparison.results.items():
        ci = result.interval
        lines.append(
            f"baseline pass@{k}: {result.baseline:.4f} -> {result.current:.4f}  change {result.delta:+.4f} "
            f"({ci.level:.0%} CI {ci.low:+.4f} to {ci.high:+.4f}), p = {result.p_value:.4g}, {result.test}"
        )
    for k, why in comparison.not_compared.items():
        lines.append(f"baseline pass@{k}: not compared: {why}")
    for label, changes in (("regressed", comparison.regressed), ("improved", comparison.improved)):
        shown = ", ".join(change.describe() for change in changes[:CHANGES_SHOWN])
        more = f", and {len(changes) - CHANGES_SHOWN} more" if len(changes) > CHANGES_SHOWN else ""
        lines.append(f"{label}: {len(changes)}" + (f": {shown}{more}" if changes else ""))
    lines.extend(f"warning: {warning}" for warning in comparison.warnings)
    return lines


def git_commit(directory: Path) -> str | None:
    """The commit checked out at `directory`, or None outside a git repository (or without git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


@dataclass(frozen=True)
class RunInfo:
    """When and where a run happened, for the report's `run` section."""

    started: datetime
    finished: datetime
    git_commit: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin_version": __version__,
            "started_at": self.started.isoformat(),
            "finished_at": self.finished.isoformat(),
            "git_commit": self.git_commit,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        }


def sample_record(sample: Sample, outcome: Outcome) -> dict[str, Any]:
    record: dict[str, Any] = {
        "task_id": sample.task_id,
        "sample": sample.index,
        "completion": sample.completion,
        "outcome": outcome.kind,
        "passed": outcome.passed,
        "result": outcome.reference_result(),
    }
    if sample.raw is not None:
        record["raw"] = sample.raw
    detail = outcome.to_json()
    del detail["outcome"]
    record.update(detail)
    return record


def build_report(
    plan: Plan,
    outcomes: Mapping[str, Outcome],
    summary: Summary,
    settings: Mapping[str, Any],
    run: RunInfo | None = None,
    comparison: Comparison | None = None,
    verdict: Verdict | None = None,
) -> dict[str, Any]:
    """The JSON report: pass@k with intervals, run metadata, settings, dataset identity, the baseline
    comparison and gate verdicts when there are any, and every sample that ran, in input order."""
    ran = sorted((s for s in plan.samples if s.name in outcomes), key=lambda s: s.order)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run.to_json() if run is not None else None,
        "pass_at_k": {str(k): v for k, v in summary.pass_at_k.values.items()},
        "pass_at_k_ci": {
            str(k): {"low": ci.low, "high": ci.high, "level": ci.level, "method": BOOTSTRAP_METHOD}
            for k, ci in summary.intervals.items()
        },
        "pass_at_k_not_computed": {str(k): why for k, why in summary.pass_at_k.skipped.items()},
        "model": plan.model,
        "dataset": {"name": plan.dataset_name, "sha256": plan.dataset_sha256, "problems": plan.dataset_size},
        "settings": dict(settings),
        "plugin_version": __version__,
        "counts": summary.counts,
        "tampering": summary.tampering.to_json(),
        "samples_run": summary.samples_run,
        "samples_planned": summary.samples_planned,
        "problems_evaluated": summary.problems_evaluated,
        "problems_solved": summary.problems_solved,
        "duration_s": summary.duration,
        "sandbox_time_s": summary.sandbox_time,
        "notes": list(summary.notes),
        "problems": [{"task_id": task_id, "n": n, "c": c} for task_id, (n, c) in summary.per_problem.items()],
        "baseline": comparison.to_json() if comparison is not None else None,
        "gates": verdict.to_json() if verdict is not None else None,
        "samples": [sample_record(s, outcomes[s.name]) for s in ran],
    }


def _write_atomically(path: Path, text: str, errors: str = "strict") -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", errors=errors)
    tmp.replace(path)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(value: Any, indent: int | None = None) -> str:
    """JSON with text as it is, but for lone surrogates (a sample's message or completion can hold
    one), which UTF-8 cannot encode: those stay \\u escapes, and a reader gets the exact text back (a
    high surrogate followed by a low one reads back as the one character they encode)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    _write_atomically(path, _json(report, indent=2) + "\n")


def write_html(path: Path, report: Mapping[str, Any]) -> None:
    from .html_report import render

    # A lone surrogate (see _json) becomes a character reference, which browsers show as U+FFFD.
    _write_atomically(path, render(report), errors="xmlcharrefreplace")


def write_results(path: Path, plan: Plan, outcomes: Mapping[str, Outcome]) -> None:
    """openai/human-eval's ``*_results.jsonl``: task_id, completion, passed, result; input order."""
    ran = sorted((s for s in plan.samples if s.name in outcomes), key=lambda s: s.order)
    lines = []
    for sample in ran:
        outcome = outcomes[sample.name]
        record = {
            "task_id": sample.task_id,
            "completion": sample.completion,
            "passed": outcome.passed,
            "result": outcome.reference_result(),
        }
        lines.append(_json(record) + "\n")
    _write_atomically(path, "".join(lines))
