"""HumanEval+'s two figures: base pass@k (the original inputs) beside plus pass@k (base and plus inputs).

The run's headline pass@k, its gates and its baseline comparison are the plus figure, as EvalPlus
reports it. This module adds the base figure next to it in each report, and the gates and baseline
comparisons on it, named with a ``base:`` prefix (``--humaneval-fail-under=base:pass@1=0.9``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..baseline import Baseline, Comparison, compare
from ..errors import HumanEvalInputError
from ..gate import GateResult, Threshold, Verdict, evaluate
from ..passk import PassAtK, aggregate
from ..plan import Plan
from ..sandbox import Outcome
from ..stats import BOOTSTRAP_METHOD, Interval, pass_at_k_interval

BASE_PART = "base"


@dataclass(frozen=True)
class BaseFigures:
    """pass@k over the base inputs alone."""

    pass_at_k: PassAtK
    intervals: dict[int, Interval]
    per_problem: dict[str, tuple[int, int]]  # task id -> (n, c) on the base inputs


def base_passed(outcome: Outcome) -> bool:
    return BASE_PART in outcome.parts_passed


def base_figures(plan: Plan, outcomes: Mapping[str, Outcome], ks: Iterable[int]) -> BaseFigures:
    """Base pass@k of the samples that ran (outcomes keyed by sample name)."""
    per_problem: dict[str, tuple[int, int]] = {}
    for sample in plan.samples:
        outcome = outcomes.get(sample.name)
        if outcome is None:
            continue
        n, c = per_problem.get(sample.task_id, (0, 0))
        per_problem[sample.task_id] = (n + 1, c + base_passed(outcome))
    pass_at_k = aggregate(per_problem, ks)
    intervals = {k: pass_at_k_interval(list(per_problem.values()), k) for k in pass_at_k.values}
    return BaseFigures(pass_at_k, intervals, per_problem)


def terminal_lines(
    lines: list[str], plus: PassAtK, intervals: Mapping[int, Interval], base: BaseFigures
) -> list[str]:
    """The summary's pass@k lines with the plus and base figures side by side."""
    out = []
    for line in lines:
        k = _k_of(line)
        if k is not None and k in plus.values and k in base.pass_at_k.values:
            ci, base_ci = intervals[k], base.intervals[k]
            scope = line.rsplit(", ", 2)[-2:]  # "N problems", "n=...)"
            line = (
                f"pass@{k}: plus {plus.values[k]:.4f} ({ci.level:.0%} CI {ci.low:.4f}-{ci.high:.4f}) | "
                f"base {base.pass_at_k.values[k]:.4f} ({base_ci.level:.0%} CI {base_ci.low:.4f}-"
                f"{base_ci.high:.4f}) | {', '.join(scope).rstrip(')')}"
            )
        out.append(line)
    out.append(
        "HumanEval+: plus counts the samples that pass the base and the plus inputs, base the base alone"
    )
    return out


def _k_of(line: str) -> int | None:
    head = line.split(":", 1)[0]
    if head.startswith("pass@") and head[5:].isdigit():
        return int(head[5:])
    return None


def report_fields(base: BaseFigures) -> dict[str, Any]:
    """What the JSON report adds for HumanEval+ (its `pass_at_k` is the plus figure)."""
    return {
        "pass_at_k_figure": "plus",
        "base_pass_at_k": {str(k): v for k, v in base.pass_at_k.values.items()},
        "base_pass_at_k_ci": {
            str(k): {"low": ci.low, "high": ci.high, "level": ci.level, "method": BOOTSTRAP_METHOD}
            for k, ci in base.intervals.items()
        },
        "base_problems": [{"task_id": t, "n": n, "c": c} for t, (n, c) in base.per_problem.items()],
    }


def mark_samples(samples: list[dict[str, Any]]) -> None:
    """Each sample record of the report says its base and plus verdicts."""
    for record in samples:
        record["base_passed"] = BASE_PART in record.get("parts_passed", ())
        record["plus_passed"] = bool(record["passed"])


def junit_properties(base: BaseFigures) -> list[tuple[str, str]]:
    """Base pass@k and its interval as <testsuite> properties, beside the plus figure's."""
    properties = []
    for k, value in base.pass_at_k.values.items():
        ci = base.intervals[k]
        properties.append((f"humaneval_base_pass@{k}", f"{value:.6f}"))
        properties.append((f"humaneval_base_pass@{k}_ci_low", f"{ci.low:.6f}"))
        properties.append((f"humaneval_base_pass@{k}_ci_high", f"{ci.high:.6f}"))
    return properties


def split(thresholds: Iterable[Threshold]) -> tuple[tuple[Threshold, ...], tuple[Threshold, ...]]:
    """(gates on the headline figure, gates on the base figure)."""
    thresholds = tuple(thresholds)
    return tuple(t for t in thresholds if not t.base), tuple(t for t in thresholds if t.base)


def base_baseline(baseline: Baseline) -> Baseline:
    """The baseline report's base figure as a baseline of its own (its ``base_problems``)."""
    try:
        rows = json.loads(baseline.path.read_text(encoding="utf-8")).get("base_problems")
        per_problem = {str(r["task_id"]): (int(r["n"]), int(r["c"])) for r in rows}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise HumanEvalInputError(
            f"--humaneval-baseline={baseline.path}: the report has no base figures (base_problems), so the "
            "base: gates cannot compare with it; use the report of a HumanEval+ run"
        ) from None
    return replace(baseline, per_problem=per_problem)


def base_verdict(
    base: BaseFigures,
    fail_under: tuple[Threshold, ...],
    comparison: Comparison | None,
    max_drop: tuple[Threshold, ...],
    alpha: float,
) -> Verdict:
    """The gates on the base figure; their messages say so."""
    verdict = evaluate(base.pass_at_k, fail_under, comparison, max_drop, alpha)
    return Verdict(tuple(GateResult(r.gate, r.met, f"base {r.message}") for r in verdict.results))


def base_comparison(
    baseline: Baseline, base: BaseFigures, ks: Iterable[int], settings: Mapping[str, Any], version: str
) -> Comparison:
    return compare(baseline, base.per_problem, ks, settings, version)


def gates(
    headline: PassAtK,
    base: BaseFigures | None,
    fail_under: Iterable[Threshold],
    baseline: Baseline | None,
    comparison: Comparison | None,
    max_drop: Iterable[Threshold],
    alpha: float,
    ks: Iterable[int],
    settings: Mapping[str, Any],
    version: str,
) -> Verdict:
    """Every gate's result: those on the headline figure, then those on the base figure (``base:``)."""
    fail_under, base_fail_under = split(fail_under)
    max_drop, base_max_drop = split(max_drop)
    results = list(evaluate(headline, fail_under, comparison, max_drop, alpha).results)
    if not (base_fail_under or base_max_drop):
        return Verdict(tuple(results))
    if base is None:
        for threshold in base_fail_under + base_max_drop:
            results.append(
                GateResult(threshold.spec(), False, f"{threshold.spec()} needs a HumanEval+ problem set")
            )
        return Verdict(tuple(results))
    base_compared = None
    if base_max_drop and baseline is not None:
        try:
            base_compared = base_comparison(base_baseline(baseline), base, ks, settings, version)
        except HumanEvalInputError as exc:
            results += [GateResult(t.spec(), False, str(exc)) for t in base_max_drop]
            base_max_drop = ()
    results += base_verdict(base, base_fail_under, base_compared, base_max_drop, alpha).results
    return Verdict(tuple(results))
