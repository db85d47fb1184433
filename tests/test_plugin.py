"""The plugin end to end through pytester: in-process runs (``runpytest``) where nothing needs a process
of its own, real `pytest` subprocesses for xdist and for a fresh interpreter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_humaneval.passk import estimate_pass_at_k

from .helpers import read_report, write_jsonl

TIMEOUT = 60  # seconds a whole pytester run may take before the test fails, not a performance bound

# One sample per behaviour, all for the problem T/0 (add); the index is the position in this list.
BEHAVIOURS: list[tuple[str, str, str]] = [
    ("pass", "    return a + b\n", "passed"),
    ("wrong answer", "    return a - b\n", "failed"),
    ("syntax error", "    return a +\n", "error"),
    ("exception", "    raise ValueError('boom')\n", "error"),
    ("infinite loop", "    while True:\n        pass\n", "timeout"),
    (
        "loop ignoring SIGALRM",
        "    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)\n    while True:\n        pass\n",
        "timeout",
    ),
    ("os._exit(0) before the check", "    import os\n    os._exit(0)\n", "crashed"),
    ("sys.exit(0) before the check", "    import sys\n    sys.exit(0)\n", "crashed"),
]


def behaviour_samples(pytester: pytest.Pytester) -> Path:
    rows = [{"task_id": "T/0", "completion": completion} for _, completion, _ in BEHAVIOURS]
    rows.append({"task_id": "T/1", "completion": "    return -x\n"})
    return write_jsonl(pytester.path / "samples.jsonl", rows)


# All three modes: each judges samples differently (here, a pool of sandboxes, in an xdist worker), so
# each must give every behaviour its verdict. A subprocess, because xdist needs one.
def test_every_behaviour_gets_its_outcome(
    pytester: pytest.Pytester,
    tiny_dataset: Path,
    xdist_args: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # pytest trims each short-summary line to the terminal's width
    behaviour_samples(pytester)
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:samples.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-timeout=1",
        "--humaneval-report=report.json",
        "--humaneval-results=results.jsonl",
        "--humaneval-k=1,2",
        *xdist_args,
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=2, failed=7)
    report = read_report(pytester.path / "report.json")
    by_index = {s["sample"]: s for s in report["samples"] if s["task_id"] == "T/0"}
    for index, (label, _, expected) in enumerate(BEHAVIOURS):
        assert by_index[index]["outcome"] == expected, label
        assert by_index[index]["passed"] is (expected == "passed"), label
    assert report["counts"] == {"passed": 2, "failed": 1, "error": 2, "timeout": 2, "crashed": 2}
    expected_pass1 = (estimate_pass_at_k(8, 1, 1) + 1.0) / 2
    assert report["pass_at_k"] == {"1": pytest.approx(expected_pass1, abs=1e-12)}
    assert "2" in report["pass_at_k_not_computed"]  # T/1 has only one sample
    result.stdout.fnmatch_lines(
        [
            "*= humaneval =*",
            f"pass@1: {expected_pass1:.4f}  (95% CI *, 2 problems, n=1..8)",
            "pass@2: not computed: needs at least 2 samples per problem;"
            " 1 of 2 problems have fewer (smallest n = 1)",
            "samples: 9 run: 2 passed, 1 failed, 2 error, 2 timeout, 2 crashed",
            "problems solved: 2 of 2",
        ]
    )
    # The failure report says what happened and where, in one line per failing sample.
    result.stdout.fnmatch_lines(
        [
            "FAILED humaneval::T/0[[]1[]] - T/0 sample 1: failed: AssertionError"
            " (test line 5: assert candidate(1, 2) == 3)",
        ]
    )
    assert result.stdout.str().count("T/0 sample 1:") == 1
    results = [json.loads(line) for line in (pytester.path / "results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in results] == ["T/0"] * 8 + ["T/1"]  # input order
    assert [r["result"] for r in results][:2] == ["passed", "failed: "]
    assert results[4]["result"] == "timed out"
    assert set(results[0]) == {"task_id", "completion", "passed", "result"}


# One mode: the reference solutions pass however they are run (the full run below uses -n 2), and the
# subset note is the controller's own arithmetic.
def test_canonical_on_bundled_subset(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--humaneval-model=canonical", "--humaneval-tasks=0-9,42", "--humaneval-n=2", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=22)
    result.stdout.fnmatch_lines(
        [
            "pass@1: 1.0000  (95% CI *, 11 problems, n=2)",
            "samples: 22 run: *",
            "note: subset: 11 of 164 problems selected by --humaneval-tasks=0-9,42",
        ]
    )


def test_items_and_node_ids_are_the_same_everywhere(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--humaneval-model=canonical", "--humaneval-tasks=1,2", "--humaneval-n=2", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(
        [
            "humaneval::HumanEval/1[[]0[]]",
            "humaneval::HumanEval/1[[]1[]]",
            "humaneval::HumanEval/2[[]0[]]",
            "humaneval::HumanEval/2[[]1[]]",
        ]
    )
    assert "= humaneval =" not in result.stdout.str()


def test_pytest_timeout_backstop_sits_above_the_sandbox_cap(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_collection_finish(session):
            for item in session.items:
                print("backstop", item.nodeid, item.get_closest_marker("timeout").args)
        """
    )
    result = pytester.runpytest(
        "--humaneval-model=canonical",
        "--humaneval-tasks=1,2",
        "--humaneval-timeout=2",
        "-s",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=2)
    # 2 s of running time, at most 4 times that in wall-clock time, twice (a run the machine's load held
    # up runs again), and 10 s of grace.
    result.stdout.fnmatch_lines(
        ["backstop humaneval::HumanEval/1[[]0[]] (26.0,)", "backstop *HumanEval/2* (26.0,)"]
    )


def test_samples_file_covering_some_problems(pytester: pytest.Pytester) -> None:
    write_jsonl(
        pytester.path / "s.jsonl",
        [
            {"task_id": "HumanEval/3", "completion": "    return False\n"},
            {"task_id": "HumanEval/0", "completion": "    return True\n", "model": "ignored"},
        ],
    )
    # One mode: which problems a samples file covers is decided before any sample runs.
    result = pytester.runpytest("--humaneval-model=samples:s.jsonl", "-p", "no:xdist")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "pass@1: 0.0000  (95% CI *, 2 problems, n=1)",
            "note: subset: the model gave samples for 2 of the 164 selected problems;"
            " only those are evaluated",
        ]
    )


# One mode: the controller reads the samples file before any worker starts; the test after this one shows
# that such an error stops an xdist run just the same.
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "*s.jsonl, line 2: invalid JSON*"),
        ('{"completion": "x"}', "*s.jsonl, line 2: missing field(s) task_id*"),
        (
            '{"task_id": "HumanEval/1", "completion": ["x"]}',
            "*s.jsonl, line 2: completion must be a string, got list*",
        ),
        (
            '{"task_id": "HumanEval/1000", "completion": "x"}',
            "*s.jsonl, line 2: task_id 'HumanEval/1000' is not in*",
        ),
    ],
)
def test_malformed_samples_stop_the_run_with_file_and_line(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    write_jsonl(pytester.path / "s.jsonl", ['{"task_id": "HumanEval/0", "completion": ""}', line])
    result = pytester.runpytest("--humaneval-model=samples:s.jsonl", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: " + message])


def test_an_input_error_at_session_start_stops_an_xdist_run_as_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    # Samples and baselines are read when the session starts, the hook in which xdist starts its workers:
    # the error must still be the user's usage error, not an internal error of a half-started run.
    write_jsonl(pytester.path / "s.jsonl", ['{"task_id": "HumanEval/0", "completion": ""}', "{not json"])
    result = pytester.runpytest_subprocess("--humaneval-model=samples:s.jsonl", "-n", "2", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *s.jsonl, line 2: invalid JSON*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--humaneval-model=gpt"],
            "*--humaneval-model='gpt' names no known backend; use one of canonical, samples:PATH*",
        ),
        (
            ["--humaneval-model=canonical", "--humaneval-k=0"],
            "*--humaneval-k='0': '0' is not a positive integer*",
        ),
        (["--humaneval-model=canonical", "--humaneval-tasks=170"], "*no problem numbered 170*"),
        (["--humaneval-model=canonical", "--humaneval-dataset=missing.jsonl"], "*no such file*"),
        (
            ["--humaneval-model=canonical", "--humaneval-memory=lots"],
            "*--humaneval-memory='lots' is not a size*",
        ),
        (
            ["--humaneval-model=canonical", "--humaneval-jobs=0"],
            "*--humaneval-jobs='0' is not a number of samples at once; use e.g. 2, 8 or auto*",
        ),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: " + message])


def test_ini_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhumaneval_model = canonical\nhumaneval_tasks = 5\nhumaneval_k = 1\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pass@1: 1.0000  (95% CI *, 1 problems, n=1)"])
    assert "not computed" not in result.stdout.str()


def test_k_filter_x_and_last_failed(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    write_jsonl(
        pytester.path / "s.jsonl",
        [
            {"task_id": "T/0", "completion": "    return a + b\n"},
            {"task_id": "T/0", "completion": "    return 0\n"},
            {"task_id": "T/1", "completion": "    return x\n"},
            {"task_id": "T/1", "completion": "    return -x\n"},
        ],
    )
    base = ("--humaneval-model=samples:s.jsonl", "--humaneval-dataset=problems.jsonl")
    first = pytester.runpytest(*base)
    first.assert_outcomes(passed=2, failed=2)

    only_t1 = pytester.runpytest(*base, "-k", "T/1")
    only_t1.assert_outcomes(passed=1, failed=1, deselected=2)
    only_t1.stdout.fnmatch_lines(
        ["note: 2 of 4 samples did not run*pass@k covers the 2 that did, over 1 problems"]
    )

    # Under xdist, because there the workers deselect and only the controller reports.
    last_failed = pytester.runpytest_subprocess(*base, "--lf", "-n", "2", timeout=TIMEOUT)
    last_failed.assert_outcomes(failed=2)  # xdist workers deselect; the controller does not count it
    last_failed.stdout.fnmatch_lines(["samples: 2 run: 0 passed, 2 failed, *"])

    stop = pytester.runpytest(*base, "-x", "-p", "no:xdist", "-p", "no:cacheprovider")
    stop.assert_outcomes(passed=1, failed=1)
    stop.stdout.fnmatch_lines(["samples: 2 run: 1 passed, 1 failed, 0 error, 0 timeout, 0 crashed"])

    # With a pool, later samples have started before the failure: they are dropped, not reported.
    pooled_stop = pytester.runpytest(
        *base, "-x", "-p", "no:xdist", "-p", "no:cacheprovider", "--humaneval-jobs=4"
    )
    pooled_stop.assert_outcomes(passed=1, failed=1)
    pooled_stop.stdout.fnmatch_lines(["samples: 2 run: 1 passed, 1 failed, 0 error, 0 timeout, 0 crashed"])


def test_the_pool_is_handed_each_upcoming_sample_once(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    # The pool's queue reaches far ahead of pytest; each call names only the samples not named before.
    pytester.makeconftest(
        """
        import json

        def pytest_collection_finish(session):
            items = session.items
            suite = items[0].parent
            calls = [(0, 3), (1, 3), (0, 3), (2, 10), (5, 1)]
            handed = [[key for key, _ in suite.upcoming(items[i], count)] for i, count in calls]
            (session.config.rootpath / "handed.json").write_text(json.dumps(handed))
        """
    )
    result = pytester.runpytest(
        "--humaneval-model=canonical", "--humaneval-dataset=problems.jsonl", "--humaneval-n=3", "--co"
    )
    assert result.ret == 0
    handed = json.loads((pytester.path / "handed.json").read_text())
    ids = [f"humaneval::{task}[{i}]" for task in ("T/0", "T/1") for i in range(3)]
    assert handed == [ids[0:3], ids[3:4], [], ids[4:6], []]


def test_junitxml(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    # Under xdist: the controller writes the file from the workers' reports.
    result = pytester.runpytest_subprocess(
        "--humaneval-model=canonical",
        "--humaneval-dataset=problems.jsonl",
        "-n",
        "2",
        "--junitxml=out.xml",
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=2)
    xml = (pytester.path / "out.xml").read_text()
    assert re.search(r'tests="2"', xml)
    assert 'name="T/0[0]"' in xml and 'name="T/1[0]"' in xml


def test_report_contents(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    result = pytester.runpytest(
        "--humaneval-model=canonical",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-n=3",
        "--humaneval-report=out/report.json",
        "--humaneval-k=1,3,5",
    )
    result.assert_outcomes(passed=6)
    report = read_report(pytester.path / "out" / "report.json")
    assert report["pass_at_k"] == {"1": 1.0, "3": 1.0}
    assert report["pass_at_k_not_computed"]["5"].startswith("needs at least 5 samples per problem")
    assert report["dataset"]["name"].endswith("problems.jsonl") and len(report["dataset"]["sha256"]) == 64
    assert report["settings"]["timeout"] == 3.0 and report["settings"]["k"] == [1, 3, 5]
    assert report["model"] == "canonical"
    assert [(s["task_id"], s["sample"]) for s in report["samples"]] == [
        ("T/0", 0),
        ("T/0", 1),
        ("T/0", 2),
        ("T/1", 0),
        ("T/1", 1),
        ("T/1", 2),
    ]
    assert all(s["outcome"] == "passed" and s["passed"] is True for s in report["samples"])
    result.stdout.fnmatch_lines(["report written to *report.json"])


def test_inert_without_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own="""
        import sys

        def test_own():
            heavy = {"datasets", "torch", "transformers", "openai", "pyarrow"} & set(sys.modules)
            assert not heavy, heavy
    """
    )
    # A fresh interpreter (this one has loaded the plugin's parts), and workers, which load it too.
    result = pytester.runpytest_subprocess("-n", "2", timeout=TIMEOUT)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "= humaneval =" not in out and "humaneval: model" not in out


def test_project_tests_run_only_when_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    # Under xdist: a worker takes "were the project's tests named?" from the controller's shipment, not
    # from its own arguments, and must still collect what the controller expects.
    evaluation_only = pytester.runpytest_subprocess(
        "--humaneval-model=canonical", "--humaneval-tasks=0", "-n", "2", timeout=TIMEOUT
    )
    evaluation_only.assert_outcomes(passed=1)
    both = pytester.runpytest_subprocess(
        "--humaneval-model=canonical", "--humaneval-tasks=0", "test_own.py", "-n", "2", timeout=TIMEOUT
    )
    both.assert_outcomes(passed=2)


def test_custom_backend_through_the_hook(pytester: pytest.Pytester) -> None:
    example = Path(__file__).parent.parent / "conftest_examples" / "custom_backend" / "conftest.py"
    pytester.makeconftest(example.read_text())
    # One mode: the backend answers on the controller; that xdist workers never generate is
    # test_generation.py's to show.
    result = pytester.runpytest("--humaneval-model=constant:pass", "--humaneval-tasks=0-2", "-p", "no:xdist")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["model: constant:pass", "pass@1: 0.0000  (95% CI *, 3 problems, n=1)"])


@pytest.mark.slow  # all 164 problems; the subset above runs the same path on every edit
def test_full_canonical_run_in_an_empty_directory(pytester: pytest.Pytester) -> None:
    # The quick start's command, as the README gives it.
    assert not any(pytester.path.iterdir())
    result = pytester.runpytest_subprocess("--humaneval-model=canonical", "-n", "2", timeout=300)
    result.assert_outcomes(passed=164)
    result.stdout.fnmatch_lines(
        [
            "pass@1: 1.0000  (95% CI *, 164 problems, n=1)",
            "samples: 164 run: 164 passed, 0 failed, 0 error, 0 timeout, 0 crashed",
            "problems solved: 164 of 164",
        ]
    )


def test_a_sample_cannot_kill_its_xdist_worker(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    kill_worker = (
        "    import os, signal\n"
        "    stat = open(f'/proc/{os.getppid()}/stat').read()\n"  # the fork server's parent, were it visible
        "    os.kill(int(stat.rsplit(')', 1)[1].split()[1]), signal.SIGKILL)\n"
        "    return a + b\n"
    )
    write_jsonl(
        pytester.path / "s.jsonl",
        [
            {"task_id": "T/0", "completion": kill_worker},
            {"task_id": "T/0", "completion": "    return a + b\n"},
            {"task_id": "T/1", "completion": "    return -x\n"},
        ],
    )
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "-n",
        "2",
        "--humaneval-report=report.json",
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=2, failed=1)
    report = read_report(pytester.path / "report.json")
    (crashed,) = [s for s in report["samples"] if not s["passed"]]
    assert (crashed["task_id"], crashed["sample"], crashed["outcome"]) == ("T/0", 0, "crashed")
    # The sample killed only itself (its own session); no worker went down.
    assert "killed by signal SIGKILL" in crashed["message"]
    result.stdout.no_fnmatch_line("*crashed worker*")
    result.stdout.no_fnmatch_line("*node down*")
