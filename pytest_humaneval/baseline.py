"""Comparing with a baseline: an earlier run's JSON report in, per-problem changes and pass@k deltas out.

Plain Python. Loading refuses a baseline made on another problem set; other differences (timeout,
memory, samples per problem, problems only in one run) are kept as warnings that the summary shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HumanEvalInputError
from .stats import BOOTSTRAP_METHOD, TEST_METHODS, PairedResult, paired_comparison

FLAG = "--humaneval-baseline"
# Settings whose difference can change verdicts, and so the comparison.
COMPARED_SETTINGS = ("timeout", "memory")


@dataclass(frozen=True)
class Baseline:
    """What a comparison needs from an earlier run's report."""

    path: Path
    model: str
    dataset_name: str
    dataset_sha256: str
    per_problem: dict[str, tuple[int, int]]  # task id -> (n, c)
    settings: dict[str, Any]
    plugin_version: str | None
    schema_version: int | None


def load_baseline(path: Path, supported_schema: int) -> Baseline:
    """Read a JSON report written by ``--humaneval-report``, or say why it cannot serve as a baseline."""
    where = f"{FLAG}={path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HumanEvalInputError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HumanEvalInputError(f"{where}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise HumanEvalInputError(
            f"{where}: not JSON ({exc.msg}, line {exc.lineno}); pass a report written by --humaneval-report"
        ) from None
    if not isinstance(data, dict):
        raise HumanEvalInputError(f"{where}: expected a JSON object written by --humaneval-report")
    schema = data.get("schema_version")
    if schema is not None and (not isinstance(schema, int) or schema > supported_schema):
        raise HumanEvalInputError(
            f"{where}: report schema_version {schema!r} is newer than this plugin reads "
            f"(up to {supported_schema}); upgrade pytest-humaneval"
        )
    try:
        dataset = data["dataset"]
        per_problem = {}
        for row in data["problems"]:
            n, c = int(row["n"]), int(row["c"])
            if not 0 <= c <= n or n < 1:
                raise ValueError(f"problem {row['task_id']!r} has n={n}, c={c}")
            per_problem[str(row["task_id"])] = (n, c)
        baseline = Baseline(
            path=path,
            model=str(data["model"]),
            dataset_name=str(dataset["name"]),
            dataset_sha256=str(dataset["sha256"]),
            per_problem=per_problem,
            settings=dict(data.get("settings") or {}),
            plugin_version=data.get("plugin_version"),
            schema_version=schema,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HumanEvalInputError(
            f"{where}: not a pytest-humaneval report ({type(exc).__name__}: {exc}); it needs model, "
            "dataset.name, dataset.sha256 and problems[].task_id/n/c"
        ) from None
    if not per_problem:
        raise HumanEvalInputError(f"{where}: the baseline evaluated no problems")
    return baseline


def check_compatible(
    baseline: Baseline, dataset_name: str, dataset_sha256: str, task_ids: Iterable[str]
) -> None:
    """Refuse a baseline made on another problem set, or sharing no problem with this run: its
    per-problem verdicts would not pair up with this run's."""
    if baseline.dataset_sha256 != dataset_sha256:
        raise HumanEvalInputError(
            f"{FLAG}={baseline.path}: the baseline ran on a different problem set "
            f"({baseline.dataset_name}, sha256 {baseline.dataset_sha256[:12]}) than this run "
            f"({dataset_name}, sha256 {dataset_sha256[:12]}); a comparison would be meaningless. "
            "Use a baseline made with the same --humaneval-dataset"
        )
    if not any(task_id in baseline.per_problem for task_id in task_ids):
        raise HumanEvalInputError(
            f"{FLAG}={baseline.path}: the baseline evaluated none of this run's problems; nothing to compare"
        )


@dataclass(frozen=True)
class ProblemChange:
    task_id: str
    baseline: tuple[int, int]  # (n, c)
    current: tuple[int, int]

    @property
    def change(self) -> float:
        """Change in the share of passing samples."""
        return self.current[1] / self.current[0] - self.baseline[1] / self.baseline[0]

    def describe(self) -> str:
        return (
            f"{self.task_id} ({self.baseline[1]}/{self.baseline[0]} -> {self.current[1]}/{self.current[0]})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "baseline": {"n": self.baseline[0], "c": self.baseline[1]},
            "current": {"n": self.current[0], "c": self.current[1]},
        }


@dataclass(frozen=True)
class Comparison:
    baseline: Baseline
    problems: tuple[ProblemChange, ...]  # every problem in both runs, in the current run's order
    regressed: tuple[ProblemChange, ...]  # largest drop first
    improved: tuple[ProblemChange, ...]  # largest gain first
    results: dict[int, PairedResult]
    not_compared: dict[int, str]  # k -> why
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.baseline.path),
            "model": self.baseline.model,
            "problems_compared": len(self.problems),
            "regressed": [p.to_json() for p in self.regressed],
            "improved": [p.to_json() for p in self.improved],
            "problems": [p.to_json() for p in self.problems],
            "pass_at_k": {
                str(k): {
                    "baseline": r.baseline,
                    "current": r.current,
                    "delta": r.delta,
                    "delta_ci": [r.interval.low, r.interval.high],
                    "ci_level": r.interval.level,
                    "ci_method": "paired " + BOOTSTRAP_METHOD,
                    "p_value": r.p_value,
                    "test": r.test,
                    "test_method": TEST_METHODS[r.test],
                }
                for k, r in self.results.items()
            },
            "pass_at_k_not_compared": {str(k): why for k, why in self.not_compared.items()},
            "warnings": list(self.warnings),
        }


def _setting_warnings(baseline: Baseline, settings: Mapping[str, Any], plugin_version: str) -> list[str]:
    warnings = []
    for name in COMPARED_SETTINGS:
        if name in baseline.settings and baseline.settings[name] != settings.get(name):
            warnings.append(
                f"baseline ran with {name}={baseline.settings[name]!r}, this run with {settings.get(name)!r}:"
                " verdicts near the limit may differ for that reason alone"
            )
    if baseline.plugin_version is not None and baseline.plugin_version != plugin_version:
        warnings.append(
            f"baseline was made by pytest-humaneval {baseline.plugin_version}, this run by {plugin_version}"
        )
    return warnings


def compare(
    baseline: Baseline,
    current: Mapping[str, tuple[int, int]],
    ks: Iterable[int],
    settings: Mapping[str, Any],
    plugin_version: str,
) -> Comparison:
    """Pair the problems both runs evaluated and compare them, per problem and for each k."""
    common = [task_id for task_id in current if task_id in baseline.per_problem]
    warnings = _setting_warnings(baseline, settings, plugin_version)
    only_current = len(current) - len(common)
    only_baseline = len(baseline.per_problem) - len(common)
    if only_current or only_baseline:
        warnings.append(
            f"compared on the {len(common)} problems both runs evaluated; {only_baseline} only in the "
            f"baseline and {only_current} only in this run are left out"
        )
    before = [baseline.per_problem[t] for t in common]
    after = [current[t] for t in common]
    if {n for n, _ in before} != {n for n, _ in after}:
        warnings.append(
            f"samples per problem differ: baseline n={_n_text(before)}, this run n={_n_text(after)}"
        )
    problems = tuple(ProblemChange(t, baseline.per_problem[t], current[t]) for t in common)
    results: dict[int, PairedResult] = {}
    not_compared: dict[int, str] = {}
    for k in ks:
        if not common:
            not_compared[k] = "the two runs have no problem in common"
        elif min(n for n, _ in before + after) < k:
            not_compared[k] = f"needs at least {k} samples per problem in both runs"
        else:
            results[k] = paired_comparison(before, after, k)
    return Comparison(
        baseline=baseline,
        problems=problems,
        regressed=tuple(sorted((p for p in problems if p.change < 0), key=lambda p: p.change)),
        improved=tuple(sorted((p for p in problems if p.change > 0), key=lambda p: -p.change)),
        results=results,
        not_compared=not_compared,
        warnings=tuple(warnings),
    )


def _n_text(counts: list[tuple[int, int]]) -> str:
    sizes = sorted({n for n, _ in counts})
    if not sizes:
        return "none"
    return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}..{sizes[-1]}"
