"""HumanEval+'s batched calls through the real sandbox: base then plus, each in a fresh child."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval.dataset import Problem
from pytest_humaneval.plus.suite import PlusSuite, build_suite
from pytest_humaneval.sandbox import Outcome, Sandbox, build_program


def problem(
    name: str, canonical: str, base: list[list[Any]], plus: list[list[Any]], atol: float = 0
) -> Problem:
    return Problem(
        task_id=f"P/{name}",
        prompt=f"def {name}(*args):\n",
        test="",
        entry_point=name,
        canonical_solution=canonical,
        extra={"base_input": base, "plus_input": plus, "atol": atol},
    )


SQUARE = problem("square", "    return args[0] * args[0]\n", [[1], [2]], [[n] for n in range(3, 300)])
HALVES = problem(  # a million numbers, ints and floats mixed, as HumanEval/130's answers
    "halves", "    return [i if i % 2 else i / 2 for i in range(args[0])]\n", [[5]], [[10**6], [7]]
)
TEXT = problem("text", "    return ' '.join(map(str, range(args[0])))\n", [[3]], [[600_000]])
PAIR = problem("pair", "    return (args[0], [args[0]])\n", [[1]], [[2]])
SLOW = problem("slow", "    return args[0]\n", [[0]], [[0], [1], [2]])


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> PlusSuite:
    store = tmp_path_factory.mktemp("expected")
    return build_suite([SQUARE, HALVES, TEXT, PAIR, SLOW], store, min_time_limit=0.5, time_limit_factor=4.0)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        box.start()
        yield box


def judge(sandbox: Sandbox, suite: PlusSuite, source: Problem, body: str) -> Outcome:
    program = build_program(source, body)
    return sandbox.run(dataclasses.replace(program, calls=suite.parts(source.task_id)))


def test_the_canonical_solution_passes_base_and_plus(sandbox: Sandbox, suite: PlusSuite) -> None:
    for source in (SQUARE, HALVES, TEXT, PAIR, SLOW):
        outcome = judge(sandbox, suite, source, source.canonical_solution)
        assert outcome.passed, outcome.describe()
        assert outcome.parts_passed == ("base", "plus")


def test_a_wrong_plus_answer_fails_and_names_the_input(sandbox: Sandbox, suite: PlusSuite) -> None:
    outcome = judge(sandbox, suite, SQUARE, "    return args[0] * args[0] if args[0] != 123 else 0\n")
    assert outcome.kind == "failed"
    assert outcome.parts_passed == ("base",)
    assert "plus input #121 of 297, square(123): returned 0" in outcome.message


def test_a_wrong_base_answer_stops_before_the_plus_inputs(sandbox: Sandbox, suite: PlusSuite) -> None:
    outcome = judge(sandbox, suite, SQUARE, "    return 4\n")
    assert outcome.kind == "failed" and outcome.parts_passed == ()
    assert outcome.message.startswith("base input #1 of 2, square(1): returned 4")


def test_millions_of_items_cross_and_ints_equal_to_the_expected_floats_pass(
    sandbox: Sandbox, suite: PlusSuite
) -> None:
    ints_only = "    return [i if i % 2 else i // 2 for i in range(args[0])]\n"  # 2 == 2.0, as EvalPlus says
    assert judge(sandbox, suite, HALVES, ints_only).passed
    as_tuple = "    return tuple(i if i % 2 else i / 2 for i in range(args[0]))\n"
    outcome = judge(sandbox, suite, HALVES, as_tuple)
    assert outcome.kind == "failed" and "returned (0.0, 1" in outcome.message
    off_by_one = "    return [i if i % 2 else i / 2 for i in range(args[0])][:-1] + [0]\n"
    assert judge(sandbox, suite, HALVES, off_by_one).kind == "failed"
    assert (
        judge(sandbox, suite, TEXT, "    return ' '.join(map(str, range(args[0]))) + ' '\n").kind == "failed"
    )


def test_tuples_and_lists_stay_apart(sandbox: Sandbox, suite: PlusSuite) -> None:
    outcome = judge(sandbox, suite, PAIR, "    return [args[0], [args[0]]]\n")
    assert outcome.kind == "failed" and "returned [1, [1]]" in outcome.message


def test_each_part_runs_in_a_fresh_child(sandbox: Sandbox, suite: PlusSuite) -> None:
    # State kept between calls (a counter here) starts again for the plus inputs, as in EvalPlus,
    # which runs each list of inputs in a process of its own.
    body = "    global calls\n    calls = globals().get('calls', 0) + 1\n    assert calls <= 3\n"
    body += "    return args[0]\n"
    assert judge(sandbox, suite, SLOW, body).passed


def test_an_input_over_its_time_limit_times_out_and_is_named(sandbox: Sandbox, suite: PlusSuite) -> None:
    body = "    import time\n    if args[0] == 1:\n        time.sleep(3)\n    return args[0]\n"
    outcome = judge(sandbox, suite, SLOW, body)
    assert outcome.kind == "timeout"
    assert outcome.message == "plus input #2 of 3, slow(1): did not return within 0.5 s"
    assert outcome.parts_passed == ("base",)


def test_an_exception_is_an_error_naming_the_input(sandbox: Sandbox, suite: PlusSuite) -> None:
    outcome = judge(sandbox, suite, SQUARE, "    return 1 // (args[0] - 2) and args[0] ** 2\n")
    assert outcome.kind == "error" and outcome.error_type == "ZeroDivisionError"
    assert outcome.message.startswith("base input #2 of 2, square(2): ")


def test_the_suite_crosses_its_wire_form_intact(suite: PlusSuite) -> None:
    again = PlusSuite.from_wire(suite.to_wire())
    assert again.problems == suite.problems
    assert (again.min_time_limit, again.time_limit_factor) == (0.5, 4.0)


def test_a_worker_without_the_store_computes_the_big_outputs_itself(suite: PlusSuite, tmp_path: Path) -> None:
    moved = PlusSuite(suite.problems, tmp_path / "elsewhere", suite.min_time_limit, suite.time_limit_factor)
    assert suite.problems[HALVES.task_id].expected is None  # too big to travel inline
    parts = moved.parts(HALVES.task_id)
    checker = parts[1].checker()
    assert checker.mismatch(0, [i if i % 2 else i / 2 for i in range(10**6)], True) is None


def test_long_sequences_of_scalars_cross_as_the_same_trees_and_values() -> None:
    # _plain's fast path for long flat sequences must give what the item-by-item path gives.
    from pytest_humaneval.sandbox._plain import from_tree, to_tree

    values = [1, 2.5, "a", None, True, 10**30, float("inf")] * 20
    tree = to_tree(values)
    assert tree == {"l": [to_tree(v) for v in values]}
    assert from_tree(tree) == values and type(from_tree(to_tree(tuple(values)))) is tuple
    huge = [1] * 100 + [10**5000]  # too long for JSON as a number: the slow path tags it
    assert to_tree(huge)["l"][-1] == {"i": format(10**5000, "x")}
    assert from_tree(to_tree(huge)) == huge
    nested = [[1]] * 100
    assert from_tree(to_tree(nested)) == nested


@pytest.mark.parametrize(
    "body", ["    return object()\n", "    return iter([args[0] * args[0]])\n"], ids=["object", "iterator"]
)
def test_an_answer_that_cannot_cross_is_an_error_on_the_tampering_record(
    sandbox: Sandbox, suite: PlusSuite, body: str
) -> None:
    # As on the single-call path: refused at the boundary, not an exception of the candidate's.
    outcome = judge(sandbox, suite, SQUARE, body)
    assert outcome.kind == "error" and outcome.parts_passed == ()
    assert outcome.message.startswith("base input #1 of 2, square(1): a value of type "), outcome.message
    assert outcome.tampering == ("not_plain",)
