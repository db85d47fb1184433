"""HumanEval+ end to end through pytest: the release downloaded from 127.0.0.1, base and plus figures
in every report, items that fail on plus, gates on either figure, under xdist and without it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import read_report, write_jsonl
from .test_plus_release import HUMANEVALPLUS, ReleaseServer

TIMEOUT = 300
TASKS = "0-9"


@pytest.fixture
def release_url() -> Iterator[str]:
    if not HUMANEVALPLUS.is_dir():
        pytest.fail(f"{HUMANEVALPLUS} is missing: CI must run beside ../shared")
    server = ReleaseServer()
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the module: the release and expected outputs are fetched and computed once."""
    return tmp_path_factory.mktemp("humaneval-data")


def plus_args(url: str, data: Path, *extra: str) -> list[str]:
    return [
        "--humaneval-dataset=humanevalplus-mini",
        f"--humaneval-plus-url={url}",
        f"--humaneval-data-dir={data}",
        f"--humaneval-tasks={TASKS}",
        "-p",
        "no:randomly",
        *extra,
    ]


def test_canonical_solutions_pass_base_and_plus_under_xdist(
    pytester: pytest.Pytester, release_url: str, data_dir: Path
) -> None:
    args = plus_args(release_url, data_dir, "--humaneval-model=canonical", "-n", "2")
    args += ["--humaneval-report=r.json", "--junitxml=j.xml", "--humaneval-html=r.html"]
    result = pytester.runpytest_subprocess(*args, timeout=TIMEOUT)
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            "dataset: HumanEval+ Mini v0.1.10 (EvalPlus) (sha256 *",
            "pass@1: plus 1.0000 (95% CI 1.0000-1.0000) | base 1.0000 (95% CI 1.0000-1.0000) | 10 problems*",
        ]
    )
    report = read_report(pytester.path / "r.json")
    assert report["pass_at_k"] == {"1": 1.0} and report["base_pass_at_k"] == {"1": 1.0}
    assert report["pass_at_k_figure"] == "plus"
    assert all(s["base_passed"] and s["plus_passed"] for s in report["samples"])
    properties = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "j.xml").iter("property")}
    assert properties["humaneval_pass@1"] == properties["humaneval_base_pass@1"] == "1.000000"
    assert "base pass@1" in (pytester.path / "r.html").read_text(encoding="utf-8")


def test_a_sample_wrong_only_on_plus_fails_its_item_and_counts_for_base(
    pytester: pytest.Pytester, release_url: str, data_dir: Path
) -> None:
    # HumanEval/0 has_close_elements: strict < on the threshold is right; a plus input catches <=.
    lazy = (
        "    for i, a in enumerate(numbers):\n"
        "        for b in numbers[i + 1:]:\n"
        "            if abs(a - b) <= threshold:\n"
        "                return True\n"
        "    return False\n"
    )
    samples = write_jsonl(
        pytester.path / "samples.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": lazy},
            {"task_id": "HumanEval/1", "completion": "    return []\n"},
        ],
    )
    args = plus_args(
        release_url, data_dir, f"--humaneval-model=samples:{samples}", "--humaneval-report=r.json"
    )
    args += ["-p", "no:xdist", "--humaneval-fail-under=base:pass@1=0.5", "--humaneval-fail-under=pass@1=0.5"]
    result = pytester.runpytest(*args)
    report = read_report(pytester.path / "r.json")
    by_task = {s["task_id"]: s for s in report["samples"]}
    first = by_task["HumanEval/0"]
    assert (first["base_passed"], first["plus_passed"]) == (True, False), first["message"]
    assert first["message"].startswith("plus input #")
    assert "has_close_elements(" in first["message"]
    assert report["base_pass_at_k"] == {"1": 0.5} and report["pass_at_k"] == {"1": 0.0}
    result.stdout.fnmatch_lines(
        [
            "FAILED humaneval::HumanEval/0?0? - HumanEval/0 sample 0: failed: plus input #*",
            "pass@1: plus 0.0000 (95% CI 0.0000-0.0000) | base 0.5000 (95% CI 0.0000-1.0000) | 2 problems, *",
            "gate FAILED: pass@1 = 0.0000 is below the threshold of --humaneval-fail-under=pass@1=0.5",
            "gate met: base pass@1 = 0.5000 >= 0.5",
        ]
    )
    assert result.ret == 1


def test_base_gates_need_a_humaneval_plus_problem_set(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    result = pytester.runpytest(
        "--humaneval-model=canonical",
        f"--humaneval-dataset={tiny_dataset}",
        "--humaneval-fail-under=base:pass@1=0.5",
    )
    result.stdout.fnmatch_lines(["gate FAILED: *base:pass@1=0.5 needs a HumanEval+ problem set"])
    assert result.ret == 1


def test_offline_the_run_stops_with_the_url_and_the_hash(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = pytester.runpytest(
        "--humaneval-model=canonical",
        "--humaneval-dataset=humanevalplus",
        "--humaneval-plus-url=http://127.0.0.1:9/releases",
        f"--humaneval-data-dir={tmp_path}",
    )
    result.stderr.fnmatch_lines(
        ["*could not download HumanEval+ from http://127.0.0.1:9/releases/HumanEvalPlus-v0.1.10.jsonl.gz*"]
    )
    assert "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101" in result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_local_file_in_evalplus_format_is_judged_the_evalplus_way(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    own = {
        "task_id": "Team/0",
        "prompt": "def twice(x):\n",
        "canonical_solution": "    return 2 * x\n",
        "test": "def check(candidate):\n    assert candidate(1) == 2\n",
        "entry_point": "twice",
        "base_input": [[1], [2]],
        "plus_input": [[n] for n in range(-50, 50)],
        "atol": 0,
    }
    problems = write_jsonl(pytester.path / "own.jsonl", [own])
    samples = write_jsonl(
        pytester.path / "s.jsonl", [{"task_id": "Team/0", "completion": "    return x + abs(x)\n"}]
    )
    result = pytester.runpytest(
        f"--humaneval-model=samples:{samples}",
        f"--humaneval-dataset={problems}",
        f"--humaneval-data-dir={tmp_path}",
        "--humaneval-report=r.json",
    )
    result.assert_outcomes(failed=1)
    (sample,) = read_report(pytester.path / "r.json")["samples"]
    assert sample["base_passed"] and not sample["plus_passed"]
    assert (
        sample["message"]
        == "plus input #1 of 100, twice(-50): returned 0, which differs from the expected output"
    )
    assert len(list((tmp_path / "expected").glob("*.pickle"))) == 1
