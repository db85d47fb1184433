"""Capturing a candidate's output: as cheap as an in-memory file, and bounded whatever it prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval import defaults
from pytest_humaneval.sandbox import Limits, Program, Sandbox
from pytest_humaneval.sandbox.forkserver import OUTPUT_BUFFER, _Output

from .helpers import read_report, write_jsonl

LINES = 600_000
PRINTS_A_LOT = f"    for i in range({LINES}):\n        print(i)\n    return a + b\n"


def test_printing_runs_no_python_code_per_write() -> None:
    """What made output-heavy samples slow: a Python-level write() for every argument of every print."""
    output = _Output(defaults.OUTPUT_LIMIT)
    python_calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal python_calls
        python_calls += event == "call"

    stream, lines = output.stream, 60_000
    sys.setprofile(count)
    try:
        for i in range(lines):
            print(i, file=stream)
        stream.flush()
    finally:
        sys.setprofile(None)
    printed = sum(len(f"{i}\n") for i in range(lines))
    # The sink's write runs once per buffer's worth of bytes (and the flush once more), not per print.
    assert python_calls <= printed // OUTPUT_BUFFER + 3
    assert output.take() == "".join(f"{i}\n" for i in range(lines))[: defaults.OUTPUT_LIMIT]


def test_what_is_kept_stays_bounded_whatever_is_printed() -> None:
    output = _Output(1000)
    for _ in range(200):
        output.stream.write("x" * 100_000)  # 20 MB in all
    assert output.take() == "x" * 1000
    assert len(output._sink._kept) == 0 and output._sink._room <= 0  # nothing more is held
    output.stream.write("more")
    assert output.take() == ""


def test_the_limit_counts_characters_and_never_splits_one() -> None:
    output = _Output(3)
    output.stream.write("ééé€x")
    assert output.take() == "ééé"
    output = _Output(4)
    output.stream.write("ab")
    assert output.take() == "ab"
    output.stream.write("cdef")
    assert output.take() == "cd"  # the limit is over the whole run, across takes


@pytest.fixture
def sandbox() -> Any:
    with Sandbox(Limits(timeout=2.0, memory=1024**3)) as box:
        yield box


def test_odd_text_and_a_closed_stdout_do_not_break_a_correct_sample(sandbox: Sandbox) -> None:
    candidate = (
        "import sys\n"
        "def f():\n"
        "    print('lone \\udc80 surrogate', 'é')\n"
        "    sys.stderr.write('to stderr\\n')\n"
        "    sys.stdout.close()\n"
        "    return 1\n"
    )
    outcome = sandbox.run(Program(candidate, "f", "def check(c):\n    assert c() == 1\n"))
    assert outcome.passed, outcome.describe()
    assert outcome.stdout.startswith("lone ") and outcome.stdout.endswith(" surrogate é\nto stderr\n")


def test_stdout_and_stderr_interleave_in_the_order_printed(sandbox: Sandbox) -> None:
    candidate = (
        "import sys\ndef f():\n    print('a')\n    print('b', file=sys.stderr)\n    print('c')\n"
        "    return 1\n"
    )
    outcome = sandbox.run(Program(candidate, "f", "def check(c):\n    assert c() == 2\n"))
    assert (outcome.kind, outcome.stdout) == ("failed", "a\nb\nc\n")


def test_a_correct_sample_printing_600000_lines_passes_under_the_default_timeout(
    pytester: pytest.Pytester, tiny_dataset: Path
) -> None:
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": PRINTS_A_LOT}])
    result = pytester.runpytest(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-report=report.json",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=1)
    (sample,) = read_report(pytester.path / "report.json")["samples"]
    assert sample["outcome"] == "passed"
    assert sample["stdout"] == "".join(f"{i}\n" for i in range(LINES))[: defaults.OUTPUT_LIMIT]
