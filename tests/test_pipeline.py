"""Calls sent ahead of the test: which ones are predicted, and that every outcome stays the sequential one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pytest_humaneval.dataset import load
from pytest_humaneval.sandbox import Limits, Outcome, Program, Sandbox, judge
from pytest_humaneval.sandbox.pipeline import MAX_PREDICTED_BYTES, predicted_requests
from pytest_humaneval.sandbox.program import trusted_source


def _calls(test: str, entry_point: str = "f") -> list[list[object]]:
    """The predicted requests' positional arguments, as JSON trees (ints and strs cross as themselves)."""
    found = []
    for frame in predicted_requests(test, entry_point):
        message = json.loads(frame[4:])
        found.append(message["args"]["t"])
    return found


def test_a_run_of_literal_asserts_is_predicted_in_order() -> None:
    test = (
        "def check(candidate):\n"
        "    '''docstring'''\n"
        "    assert candidate(1) == 2\n"
        "    assert True, 'a message'\n"
        "    pass\n"
        "    assert abs(candidate(2) - candidate(3)) < 1\n"
        "    assert f(4) == 4\n"  # the entry point's own name is the candidate too
        "    assert candidate(-5, 'x') is not None\n"
    )
    assert _calls(test) == [[1], [2], [3], [4], [-5, "x"]]


@pytest.mark.parametrize(
    ("statement", "predicted"),
    [
        ("for i in range(3):\n        assert candidate(i) == i", []),  # a loop ends the prediction
        ("x = 2", []),
        ("assert candidate(x) == 1", []),  # not a literal
        ("assert candidate(*[1]) == 1", []),
        ("assert candidate(**{'a': 1}) == 1", []),
        ("assert candidate(2) == 2 or candidate(3) == 3", []),  # the second may never run
        ("assert candidate(2) if True else candidate(3)", []),
        ("assert all(candidate(i) for i in (1, 2))", []),
        ("assert 0 < candidate(2) < candidate(3)", []),  # a chain stops at its first false link
        ("assert 0 < candidate(2) < 9", [[2], [9]]),  # predicted, and so is what follows
        ("assert candidate(2) == 2, candidate(3)", [[2], [9]]),  # the message runs only on failure
        ("assert helper(candidate) == 1", []),  # whoever gets the candidate may call it
        ("assert {candidate(2): candidate(3)}", []),
    ],
)
def test_what_ends_the_prediction(statement: str, predicted: list[list[object]]) -> None:
    test = f"def check(candidate):\n    assert candidate(1) == 1\n    {statement}\n"
    test += "    assert candidate(9) == 9\n"
    assert _calls(test) == [[1], *predicted]


def test_no_prediction_without_a_plain_check() -> None:
    assert predicted_requests("def check(a, b):\n    assert a(1)\n", "f") == ()
    assert predicted_requests("@decorate\ndef check(c):\n    assert c(1)\n", "f") == ()
    assert predicted_requests("def check(c:\n", "f") == ()
    assert predicted_requests("assert f(1) == 1\n", "f") == ()


def test_predicted_requests_fit_in_the_socket_buffer() -> None:
    lines = "".join(f"    assert candidate({'x' * 1000!r}, {i}) == 1\n" for i in range(100))
    frames = predicted_requests(f"def check(candidate):\n{lines}", "f")
    assert 0 < len(frames) < 100
    assert sum(map(len, frames)) <= MAX_PREDICTED_BYTES


def test_most_humaneval_calls_are_predicted() -> None:
    problems = load().problems
    predicted = sum(len(predicted_requests(trusted_source(p), p.entry_point)) for p in problems)
    # 1,537 calls in all when the canonical solutions run; most are literal asserts at the top of check.
    assert predicted > 1000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=3.0)) as box:
        yield box


# Counts its calls: each answer says how many calls this process has seen, so any call run ahead of the
# test that the test did not make shows in the answers.
COUNTING = "calls = []\ndef f(x):\n    calls.append(x)\n    print('call', x)\n    return len(calls)\n"


def _run(sandbox: Sandbox, candidate: str, test: str, pipeline: bool = True) -> Outcome:
    program = Program(candidate, "f", test)
    if not pipeline:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(judge, "predicted_requests", lambda *_: ())
            return sandbox.run(program)
    return sandbox.run(program)


def test_answers_come_in_the_order_the_test_asks(sandbox: Sandbox) -> None:
    test = "def check(candidate):\n" + "".join(f"    assert candidate(7) == {n}\n" for n in (1, 2, 3))
    assert predicted_requests(test, "f")
    outcome = _run(sandbox, COUNTING, test)
    assert outcome.kind == "passed", outcome
    assert outcome.stdout == "call 7\ncall 7\ncall 7\n"


def test_a_failure_ends_the_sample_and_what_ran_ahead_is_not_seen(sandbox: Sandbox) -> None:
    candidate = COUNTING.replace(
        "    calls.append(x)\n", "    calls.append(x)\n    while x == 3:\n        pass\n"
    )
    test = "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 5\n"
    test += "    assert candidate(3) == 3\n"
    for pipeline in (True, False):
        outcome = _run(sandbox, candidate, test, pipeline)
        # The third call, sent ahead, never returns: the verdict is still the second's failure, at once.
        assert outcome.kind == "failed", outcome
        assert outcome.line == 3
        assert outcome.stdout == "call 1\ncall 2\n"
        assert outcome.duration < 3.0


def _check_replaced(body: str) -> str:
    """A test whose source's check predicts candidate(1), candidate(2), but whose check runs `body`."""
    return (
        "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 2\n"
        f"def other(candidate):\n{body}check = other\n"
    )


def test_a_test_that_asks_otherwise_runs_again_one_call_at_a_time(sandbox: Sandbox) -> None:
    # The source's check is not the one that runs: its second predicted call is never asked for.
    test = _check_replaced("    assert candidate(1) == 1\n    assert candidate(6) == 2\n")
    assert len(predicted_requests(test, "f")) == 2
    outcome = _run(sandbox, COUNTING, test)
    # Had the predicted candidate(2) counted, candidate(6) would answer 3: the rerun saw only the test's.
    assert outcome.kind == "passed", outcome
    assert outcome.stdout == "call 1\ncall 6\n"


def test_a_divergence_the_test_swallows_still_runs_again(sandbox: Sandbox) -> None:
    test = _check_replaced(
        "    assert candidate(1) == 1\n"
        "    try:\n        candidate(5)\n    except BaseException:\n        pass\n"
        "    assert candidate(6) == 3\n"
    )
    for pipeline in (True, False):
        outcome = _run(sandbox, COUNTING, test, pipeline)
        assert outcome.kind == "passed", outcome
        assert outcome.stdout == "call 1\ncall 5\ncall 6\n"


def test_a_first_call_other_than_predicted_goes_alone(sandbox: Sandbox) -> None:
    test = _check_replaced("    assert candidate(5) == 1\n    assert candidate(6) == 2\n")
    outcome = _run(sandbox, COUNTING, test)
    assert outcome.kind == "passed", outcome
    assert outcome.stdout == "call 5\ncall 6\n"


def test_an_iterator_step_between_predicted_calls(sandbox: Sandbox) -> None:
    candidate = "state = []\ndef f(x):\n    state.append(x)\n    return iter(list(state))\n"
    test = (
        "def check(candidate):\n"
        "    assert next(candidate(1)) == 1\n"  # the step is asked before the second call is made
        "    assert list(candidate(2)) == [1, 2]\n"
    )
    for pipeline in (True, False):
        outcome = _run(sandbox, candidate, test, pipeline)
        assert outcome.kind == "passed", outcome


def test_a_refusal_in_a_call_the_test_never_made_is_not_reported(sandbox: Sandbox) -> None:
    if not sandbox.start().get("seccomp"):
        pytest.skip("the network refusal is reported only where seccomp holds")
    candidate = (
        "import socket\n"
        "def f(x):\n"
        "    if x == 2:\n"
        "        try:\n            socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "        except OSError:\n            pass\n"
        "    return x\n"
    )
    # The test fails after its first call, slowly enough that the second, sent ahead, has run by then.
    failing = (
        "def check(candidate):\n    assert candidate(1) == 1\n    assert sum(range(5_000_000)) < 0\n"
        "    assert candidate(2) == 2\n"
    )
    assert len(predicted_requests(failing, "f")) == 2
    outcome = _run(sandbox, candidate, failing)
    assert outcome.kind == "failed"
    assert outcome.tampering == ()
    passing = "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 2\n"
    outcome = _run(sandbox, candidate, passing)
    assert outcome.kind == "passed"
    assert outcome.tampering == ("refused_socket",)
