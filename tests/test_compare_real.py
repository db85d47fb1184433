"""The baseline comparison on real model generations: GPT-3.5 measured against GPT-4.

The sets live in ../shared/data/real-samples (see its README). The expected lists and p-value come
from the two runs' own per-sample results files and scipy, not from the comparison code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scipy import stats

from .helpers import read_report

REAL_SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real-samples"
BASELINE_SET, CURRENT_SET = "llmhe-gpt-4", "ldb-gpt-3.5-turbo-0613"


def passed_by_task(path: Path) -> dict[str, bool]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["task_id"]: bool(row["passed"]) for row in rows}


def evaluate(pytester: pytest.Pytester, name: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        f"--humaneval-model=samples:{REAL_SAMPLES / name / 'samples.jsonl'}",
        "--humaneval-k=1",
        f"--humaneval-results={name}.results.jsonl",
        f"--humaneval-report={name}.json",
        "-n",
        "2",
        "-q",
        "--tb=no",
        "-rN",
        *args,
        timeout=600,
    )


def test_gpt35_against_a_gpt4_baseline(pytester: pytest.Pytester) -> None:
    if not (REAL_SAMPLES / BASELINE_SET).is_dir() or not (REAL_SAMPLES / CURRENT_SET).is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_SAMPLES} is missing: CI must run beside ../shared")
        pytest.skip(f"{REAL_SAMPLES} not found (only present beside the team's checkout)")
    first = evaluate(pytester, BASELINE_SET)
    assert first.ret == pytest.ExitCode.TESTS_FAILED  # no gate: failing samples fail the run, as usual
    result = evaluate(
        pytester, CURRENT_SET, f"--humaneval-baseline={BASELINE_SET}.json", "--humaneval-max-drop=0.02"
    )

    before = passed_by_task(pytester.path / f"{BASELINE_SET}.results.jsonl")
    after = passed_by_task(pytester.path / f"{CURRENT_SET}.results.jsonl")
    assert before.keys() == after.keys() and len(before) == 164
    regressed = [t for t in before if before[t] and not after[t]]
    improved = [t for t in before if after[t] and not before[t]]
    p_value = stats.binomtest(len(regressed), len(regressed) + len(improved)).pvalue
    drop = (sum(before.values()) - sum(after.values())) / 164

    comparison = read_report(pytester.path / f"{CURRENT_SET}.json")["baseline"]
    assert comparison["problems_compared"] == 164 and comparison["warnings"] == []
    assert sorted(p["task_id"] for p in comparison["regressed"]) == sorted(regressed)
    assert sorted(p["task_id"] for p in comparison["improved"]) == sorted(improved)
    figures = comparison["pass_at_k"]["1"]
    assert figures["test"] == "exact McNemar test"
    assert figures["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert figures["delta"] == pytest.approx(-drop)
    assert figures["delta_ci"][0] <= -drop <= figures["delta_ci"][1]

    significant = p_value < 0.05 and drop > 0.02
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if significant else pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(
        [
            f"baseline pass@1: * -> *  change {-drop:+.4f} (95% CI *), p = {p_value:.4g}, exact McNemar test",
            f"regressed: {len(regressed)}: *",
            f"improved: {len(improved)}: *",
            f"gate {'FAILED' if significant else 'met'}: pass@1 *"
            + ("and significantly at alpha 0.05*" if significant else "*"),
        ]
    )
