"""The run's lifecycle as a pytest user sees it: collection counts, planning only for a real session,
what travels to xdist workers, a readable log, the default ks and the generation line.

Runs in-process (``runpytest``) where nothing needs a process of its own; xdist runs, and the ones whose
log is read line by line, in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import ADD_PROBLEM, NEG_PROBLEM, read_report, write_jsonl
from .openai_server import FakeOpenAI

TIMEOUT = 120  # seconds a whole pytester run may take before the test fails, not a performance bound


def canonical(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--humaneval-model=canonical", "-p", "no:xdist", *args)


# ---------------------------------------------------------------------------- collection counts


def test_collected_and_selected_counts_count_the_samples(pytester: pytest.Pytester) -> None:
    base = ("--humaneval-tasks=1,2,10", "--humaneval-n=2")
    result = canonical(pytester, *base)
    result.stdout.fnmatch_lines(["collected 6 items"])
    result.assert_outcomes(passed=6)

    result = canonical(pytester, *base, "-k", "HumanEval/1[")
    result.stdout.fnmatch_lines(["collected 6 items / 4 deselected / 2 selected"])
    result.assert_outcomes(passed=2, deselected=4)

    result = canonical(pytester, *base, "--deselect", "humaneval::HumanEval/2[1]")
    result.stdout.fnmatch_lines(["collected 6 items / 1 deselected / 5 selected"])
    result.assert_outcomes(passed=5, deselected=1)


def test_last_failed_reruns_only_the_failing_samples(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    rows = [
        {"task_id": "T/0", "completion": "    return a + b\n"},
        {"task_id": "T/0", "completion": "    return a - b\n"},
        {"task_id": "T/1", "completion": "    return x\n"},
    ]
    write_jsonl(pytester.path / "s.jsonl", rows)
    args = ("--humaneval-model=samples:s.jsonl", "--humaneval-dataset=problems.jsonl", "-p", "no:xdist")
    pytester.runpytest(*args).assert_outcomes(passed=1, failed=2)
    result = pytester.runpytest(*args, "--lf")
    result.stdout.fnmatch_lines(["collected 3 items / 1 deselected / 2 selected", "run-last-failure: *"])
    result.assert_outcomes(failed=2, deselected=1)


def test_xdist_workers_collect_the_samples(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--humaneval-model=canonical", "--humaneval-tasks=1,2,10", "--humaneval-n=2",
        "-k", "HumanEval/1[", "-n", "2", timeout=TIMEOUT,
    )  # fmt: skip
    result.stdout.fnmatch_lines(["2 workers [[]2 items[]]"])
    result.assert_outcomes(passed=2)


# ---------------------------------------------------------------------------- planning


def test_help_and_markers_never_call_the_model(pytester: pytest.Pytester) -> None:
    prompt = ADD_PROBLEM["prompt"]
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    with FakeOpenAI({str(prompt): ["    return a + b\n"]}) as server:
        pytester.makeini(
            f"""
            [pytest]
            humaneval_model = openai:counted
            humaneval_base_url = {server.url}
            humaneval_dataset = problems.jsonl
            humaneval_prompt_style = completion
            humaneval_cache_dir = none
            """
        )
        for flag in ("--help", "--markers"):
            result = pytester.runpytest_subprocess(flag, timeout=TIMEOUT)
            assert result.ret == 0, flag
        assert server.total == 0
        # The same ini file, in a real session, does ask: the count above could have moved.
        result = pytester.runpytest_subprocess("-p", "no:xdist", timeout=TIMEOUT)
        result.assert_outcomes(passed=1)
        assert server.total == 1


def test_help_works_whatever_the_ini_file_says(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhumaneval_model = canonical\nhumaneval_timeout = soon\n")
    result = pytester.runpytest_subprocess("--help", timeout=TIMEOUT)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--humaneval-timeout=SECONDS*"])
    # A session with the same ini file refuses the value, naming where it came from.
    result = pytester.runpytest_subprocess(timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*humaneval_timeout='soon'*"])


# ---------------------------------------------------------------------------- what travels to workers


def test_extra_fields_with_huge_integers_cross_to_xdist_workers(pytester: pytest.Pytester) -> None:
    # EvalPlus's HumanEval+ carries its inputs in extra fields, some beyond 64 bits, which execnet refuses.
    huge = {**ADD_PROBLEM, "plus_input": [[2**70, -(2**100)], [1, 2]], "atol": 0}
    write_jsonl(pytester.path / "problems.jsonl", [huge, NEG_PROBLEM])
    result = pytester.runpytest_subprocess(
        "--humaneval-model=canonical", "--humaneval-dataset=problems.jsonl", "-n", "2", timeout=TIMEOUT
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=2)


def test_workers_judge_with_the_controllers_settings(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    # A sample that needs 1.6 s (two calls of 0.8 s): within the controller's 3 s limit, beyond the
    # 0.5 s that the workers' own environment names. Judged with the controller's settings, it passes.
    slow = "    import time\n    time.sleep(0.8)\n    return a + b\n"
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": slow}])
    worker_env = "popen//env:PYTEST_HUMANEVAL_TIMEOUT=0.5//env:PYTEST_HUMANEVAL_MEMORY=none"
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl", "--humaneval-dataset=problems.jsonl", "--humaneval-timeout=3",
        "--humaneval-report=report.json", "--dist=load", "--tx", worker_env, "--tx", worker_env,
        timeout=TIMEOUT,
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["humaneval: *timeout 3 s, memory 4096 MiB"])
    report = read_report(pytester.path / "report.json")
    assert report["settings"]["timeout"] == 3.0
    assert [s["outcome"] for s in report["samples"]] == ["passed"]


def test_the_worker_environment_would_have_changed_the_verdict(
    pytester: pytest.Pytester, tiny_dataset: Path
) -> None:
    """The control for the test above: the same sample under a 0.5 s limit times out."""
    slow = "    import time\n    time.sleep(0.8)\n    return a + b\n"
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": slow}])
    result = canonical_like_samples(pytester, "--humaneval-timeout=0.5")
    result.assert_outcomes(failed=1)


def canonical_like_samples(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--humaneval-model=samples:s.jsonl", "--humaneval-dataset=problems.jsonl", "-p", "no:xdist", *args
    )


# ---------------------------------------------------------------------------- the log


def test_a_large_run_with_failures_keeps_a_short_log_that_ends_with_the_verdict(
    pytester: pytest.Pytester, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")  # as in CI: pytest then prints each FAILED line whole
    rows = []
    for index in range(820):  # 1,640 samples, a third of them wrong
        wrong = index % 3 == 0
        rows.append({"task_id": "T/0", "completion": "    return a - b\n" if wrong else "    return a + b\n"})
        rows.append({"task_id": "T/1", "completion": "    return x\n" if wrong else "    return -x\n"})
    write_jsonl(pytester.path / "s.jsonl", rows)
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl", "--humaneval-dataset=problems.jsonl", "--humaneval-jobs=2",
        "-p", "no:xdist", "--humaneval-fail-under=pass@1=0.5", timeout=300,
    )  # fmt: skip
    failing = 2 * len(range(0, 820, 3))
    result.assert_outcomes(passed=1640 - failing, failed=failing)
    lines = result.stdout.lines
    # One line per failing sample, and a few dozen for everything else.
    assert sum(line.startswith("FAILED humaneval::") for line in lines) == failing
    assert len(lines) < failing + 80, len(lines)
    assert "completion" not in result.stdout.str()  # no completion is printed by default
    # The humaneval section comes after pytest's short summary, and the gate's verdict ends it.
    section = max(i for i, line in enumerate(lines) if "= humaneval =" in line)
    assert section > max(i for i, line in enumerate(lines) if line.startswith("FAILED "))
    assert lines[section + 1 :][-2].startswith("gate met: pass@1 = 0.6")
    assert "failed" in lines[-1] and "passed" in lines[-1]  # pytest's own count is the last line


def test_short_traceback_shows_the_completion(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": "    return a - b  # WRONG\n"}])
    result = canonical_like_samples(pytester, "--tb=short")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- Captured completion call -*", "    return a - b  # WRONG"])


# ---------------------------------------------------------------------------- default ks


@pytest.mark.parametrize(
    ("n", "shown"),
    [(1, ["pass@1"]), (10, ["pass@1", "pass@10"]), (200, ["pass@1", "pass@10", "pass@100"])],
)
def test_default_ks_are_those_the_runs_n_allows(
    pytester: pytest.Pytester, tiny_dataset: Path, n: int, shown: list[str]
) -> None:
    result = canonical(
        pytester, "--humaneval-dataset=problems.jsonl", f"--humaneval-n={n}", "--humaneval-jobs=2"
    )
    result.assert_outcomes(passed=2 * n)
    reported = [line.split(":")[0] for line in result.stdout.lines if line.startswith("pass@")]
    assert reported == shown
    assert "not computed" not in result.stdout.str()


def test_a_named_k_that_cannot_be_computed_says_why(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    result = canonical(pytester, "--humaneval-dataset=problems.jsonl", "--humaneval-k=1,5")
    result.stdout.fnmatch_lines(["pass@5: not computed: needs at least 5 samples per problem*"])


# ---------------------------------------------------------------------------- generation line


def test_the_summary_says_what_was_generated_and_what_came_from_the_cache(
    pytester: pytest.Pytester, tiny_dataset: Path
) -> None:
    table = {
        str(ADD_PROBLEM["prompt"]): ["    return a + b\n"],
        str(NEG_PROBLEM["prompt"]): ["    return -x\n"],
    }
    with FakeOpenAI(table) as server:
        args = (
            "--humaneval-model=openai:gen", f"--humaneval-base-url={server.url}",
            "--humaneval-dataset=problems.jsonl", "--humaneval-prompt-style=completion",
            "--humaneval-cache-dir=cache", "-p", "no:xdist",
        )  # fmt: skip
        first = pytester.runpytest_subprocess(*args, timeout=TIMEOUT)
        first.stdout.fnmatch_lines(
            ["generation: 2 samples from openai:gen: 2 generated, 0 from the cache, in * s"]
        )
        second = pytester.runpytest_subprocess(*args, timeout=TIMEOUT)
        second.stdout.fnmatch_lines(
            ["generation: 2 samples from openai:gen: 0 generated, 2 from the cache, in * s"]
        )
        assert server.total == 2
    given = canonical(pytester, "--humaneval-dataset=problems.jsonl")
    given.stdout.fnmatch_lines(["generation: none, 2 samples given by canonical, loaded in * s"])
    assert (pytester.path / "cache").is_dir()
