"""Gates, baselines and report files end to end through pytester: in-process runs for what a gate
decides, real `pytest` subprocesses with xdist for what only xdist's controller does."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from pytest_humaneval.passk import estimate_pass_at_k

from .helpers import read_report, write_jsonl

TIMEOUT = 60
RIGHT, WRONG = "    return x\n", "    return None\n"


def identity_problems(count: int, variant: str = "") -> list[dict[str, Any]]:
    """`count` one-line problems, T/0 .. T/{count-1}; `variant` changes the set (and its checksum)."""
    return [
        {
            "task_id": f"T/{i}",
            "prompt": f"def same{i}(x):\n",
            "canonical_solution": RIGHT,
            "test": f"def check(candidate):\n    assert candidate({i}) == {i}{variant}\n",
            "entry_point": f"same{i}",
        }
        for i in range(count)
    ]


def samples_file(path: Path, passing: list[bool]) -> Path:
    """One sample per problem: T/i right when passing[i], else wrong."""
    return write_jsonl(
        path, [{"task_id": f"T/{i}", "completion": RIGHT if p else WRONG} for i, p in enumerate(passing)]
    )


ARGS = ("--humaneval-dataset=problems.jsonl", "--humaneval-k=1", "--tb=no")


def run(pytester: pytest.Pytester, samples: str, *args: str) -> pytest.RunResult:
    """One run in-process, without xdist: what a gate decides does not depend on where samples ran."""
    return pytester.runpytest(f"--humaneval-model=samples:{samples}", *ARGS, "-p", "no:xdist", *args)


def run_xdist(pytester: pytest.Pytester, samples: str, *args: str) -> pytest.RunResult:
    """One run with two xdist workers, in a subprocess."""
    return pytester.runpytest_subprocess(
        f"--humaneval-model=samples:{samples}", *ARGS, "-n", "2", *args, timeout=TIMEOUT
    )


# Plain and under xdist, not with a pool: under xdist the controller, which runs no items, must set the
# exit status from the gates, past the failing samples its workers reported. The exit status is set in
# one place for every verdict, so the other gate tests run plain only.
@pytest.mark.parametrize("runner", [run, run_xdist], ids=["no-xdist", "xdist"])
def test_gate_met_with_failing_samples_exits_zero(
    pytester: pytest.Pytester, runner: Callable[..., pytest.RunResult]
) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(4))
    samples_file(pytester.path / "s.jsonl", [True, True, True, False])
    result = runner(pytester, "s.jsonl", "--humaneval-fail-under=pass@1=0.7")
    result.assert_outcomes(passed=3, failed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["gate met: pass@1 = 0.7500 >= 0.7"])


def test_gate_missed_exits_non_zero_with_the_reason(pytester: pytest.Pytester) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(4))
    samples_file(pytester.path / "s.jsonl", [True, True, True, False])
    result = run(
        pytester, "s.jsonl", "--humaneval-fail-under=pass@1=0.5", "--humaneval-fail-under=pass@1=0.8"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "gate met: pass@1 = 0.7500 >= 0.5",
            "gate FAILED: pass@1 = 0.7500 is below the threshold of --humaneval-fail-under=pass@1=0.8",
        ]
    )


def test_all_samples_passing_but_a_gate_missed_fails(pytester: pytest.Pytester) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(2))
    samples_file(pytester.path / "s.jsonl", [True, True])
    result = run(pytester, "s.jsonl", "--humaneval-fail-under=pass@10=0.5")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["gate FAILED: pass@10 was not computed (*); --humaneval-fail-under=pass@10=0.5"]
    )


def test_gates_from_pyproject_and_the_projects_own_failures_still_count(pytester: pytest.Pytester) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(4))
    samples_file(pytester.path / "s.jsonl", [True, False, True, True])
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        humaneval_model = "samples:s.jsonl"
        humaneval_dataset = "problems.jsonl"
        humaneval_k = "1"
        humaneval_fail_under = ["pass@1=0.7"]
        """
    )
    gated = pytester.runpytest("-p", "no:xdist")
    assert gated.ret == pytest.ExitCode.OK
    gated.stdout.fnmatch_lines(["gate met: pass@1 = 0.7500 >= 0.7"])
    pytester.makepyfile(test_own="def test_own():\n    assert False\n")
    with_own = pytester.runpytest("test_own.py", "-p", "no:xdist")
    with_own.assert_outcomes(passed=3, failed=2)
    assert with_own.ret == pytest.ExitCode.TESTS_FAILED
    pytester.makepyfile(test_own="import no_such_module_here\n")
    broken = pytester.runpytest("test_own.py", "--continue-on-collection-errors", "-p", "no:xdist")
    broken.assert_outcomes(passed=3, failed=1, errors=1)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED


def baseline_and_current(
    pytester: pytest.Pytester, before: list[bool], after: list[bool]
) -> pytest.RunResult:
    """Run `before` to make a baseline report, then `after` against it with a 0.02 max-drop gate.

    One mode: the comparison is arithmetic on the two reports, whichever way their samples ran."""
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(len(before)))
    samples_file(pytester.path / "before.jsonl", before)
    samples_file(pytester.path / "after.jsonl", after)
    first = run(pytester, "before.jsonl", "--humaneval-report=baseline.json")
    assert first.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    return run(
        pytester,
        "after.jsonl",
        "--humaneval-baseline=baseline.json",
        "--humaneval-max-drop=0.02",
        "--humaneval-report=current.json",
    )


def test_a_significant_regression_fails_the_run(pytester: pytest.Pytester) -> None:
    before = [True] * 30
    after = [i >= 12 for i in range(30)]  # 12 problems regress, none improves
    result = baseline_and_current(pytester, before, after)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    p_value = stats.binomtest(12, 12).pvalue
    result.stdout.fnmatch_lines(
        [
            f"baseline pass@1: 1.0000 -> 0.6000  change -0.4000 (95% CI * to *), p = {p_value:.4g}, "
            "exact McNemar test",
            "regressed: 12: T/0 (1/1 -> 0/1), T/1 (1/1 -> 0/1), *",
            "improved: 0",
            "gate FAILED: pass@1 1.0000 -> 0.6000 (change -0.4000, *): drops more than 0.02 allowed by "
            f"--humaneval-max-drop=0.02, and significantly at alpha 0.05 (p = {p_value:.4g}, "
            "exact McNemar test)",
        ]
    )
    report = read_report(pytester.path / "current.json")
    assert [p["task_id"] for p in report["baseline"]["regressed"]] == [f"T/{i}" for i in range(12)]
    assert report["baseline"]["pass_at_k"]["1"]["p_value"] == pytest.approx(p_value)
    assert report["gates"]["met"] is False


def test_a_drop_inside_the_noise_passes(pytester: pytest.Pytester) -> None:
    before = [i < 20 for i in range(30)]
    after = [i not in (0, 1) and (i < 20 or i == 20) for i in range(30)]  # 2 regress, 1 improves
    result = baseline_and_current(pytester, before, after)
    assert result.ret == pytest.ExitCode.OK
    p_value = stats.binomtest(2, 3).pvalue
    result.stdout.fnmatch_lines(
        [
            "regressed: 2: T/0 (1/1 -> 0/1), T/1 (1/1 -> 0/1)",
            "improved: 1: T/20 (0/1 -> 1/1)",
            "gate met: pass@1 0.6667 -> 0.6333 (change -0.0333, *): drops more than 0.02 but not "
            f"significantly at alpha 0.05 (p = {p_value:.4g}, exact McNemar test)",
        ]
    )


def test_a_baseline_on_another_dataset_is_refused(pytester: pytest.Pytester) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(3))
    samples_file(pytester.path / "s.jsonl", [True, True, False])
    assert run(pytester, "s.jsonl", "--humaneval-report=baseline.json").ret == 1
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(3, variant=" or True"))
    # One mode: read at session start like a samples file, whose error test_plugin.py also runs under xdist.
    result = run(pytester, "s.jsonl", "--humaneval-baseline=baseline.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --humaneval-baseline=*baseline.json: the baseline ran on a different problem set (*)*"]
    )
    assert "= humaneval =" not in result.stdout.str()


def test_max_drop_without_a_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--humaneval-model=canonical", "--humaneval-max-drop=0.02")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --humaneval-max-drop needs --humaneval-baseline=PATH*"])


def test_report_metadata_intervals_and_junit_properties(pytester: pytest.Pytester) -> None:
    write_jsonl(pytester.path / "problems.jsonl", identity_problems(6))
    passing = [True, False, True, True, False, True]
    rows = [{"task_id": f"T/{i}", "completion": RIGHT if p else WRONG} for i, p in enumerate(passing)]
    write_jsonl(pytester.path / "s.jsonl", rows + [{**row, "completion": RIGHT} for row in rows])  # n=2
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=pytester.path, check=True)
    subprocess.run([*git, "add", "."], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "data"], cwd=pytester.path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, check=True, capture_output=True, text=True
    ).stdout.strip()
    # Under xdist: the controller, which runs no items, must still put pass@k in the JUnit file.
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-k=1,2",
        "--humaneval-report=report.json",
        "--junitxml=junit.xml",
        "-n",
        "2",
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=10, failed=2)
    report = read_report(pytester.path / "report.json")
    assert report["schema_version"] == 1
    run_info = report["run"]
    assert run_info["git_commit"] == head and run_info["plugin_version"] == report["plugin_version"]
    assert run_info["started_at"] <= run_info["finished_at"]
    assert report["settings"]["k"] == [1, 2] and report["model"] == "samples:s.jsonl"
    expected = {k: sum(estimate_pass_at_k(2, 1 + p, k) for p in passing) / 6 for k in (1, 2)}
    assert report["pass_at_k"] == pytest.approx({str(k): v for k, v in expected.items()})
    for k, value in report["pass_at_k"].items():
        ci = report["pass_at_k_ci"][k]
        assert ci["low"] <= value <= ci["high"] and ci["level"] == 0.95
        assert "bootstrap" in ci["method"]
        result.stdout.fnmatch_lines([f"pass@{k}: {value:.4f}  (95% CI {ci['low']:.4f}-{ci['high']:.4f}, 6 *"])
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value", "") for p in suite.findall("properties/property")}
    for k, value in report["pass_at_k"].items():
        assert float(properties[f"humaneval_pass@{k}"]) == pytest.approx(value, abs=1e-6)
        assert float(properties[f"humaneval_pass@{k}_ci_low"]) == pytest.approx(
            report["pass_at_k_ci"][k]["low"], abs=1e-6
        )
    assert re.search(r'name="T/1\[0\]"', (pytester.path / "junit.xml").read_text())
