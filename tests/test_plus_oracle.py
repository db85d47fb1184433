"""EvalPlus 0.3.1's comparison rules, case by case (evalplus/eval/__init__.py, unsafe_execute)."""

from __future__ import annotations

import pytest

from pytest_humaneval.plus.oracle import FLOAT_ATOL, Oracle, is_floats


@pytest.mark.parametrize(
    ("out", "expected", "right"),
    [
        ([1, 2], [1, 2], True),
        ((1, 2), [1, 2], False),  # tuples and lists are kept apart
        (True, 1, True),  # but bool == int, as in Python
        (1.0, 1, True),
        ({1, 2}, {2, 1}, True),
        ("a", "b", False),
        (10**30, 10**30, True),
        (None, 0, False),
    ],
)
def test_exact_equality_without_a_tolerance(out: object, expected: object, right: bool) -> None:
    assert (Oracle(0, "f").mismatch([], out, expected) is None) is right


def test_floats_get_the_default_tolerance_and_must_keep_type_and_length() -> None:
    oracle = Oracle(0, "f")
    assert oracle.mismatch([], 0.1 + 0.2, 0.3) is None
    assert oracle.atol == FLOAT_ATOL
    assert oracle.mismatch([], 0.3 + 2e-6, 0.3) is not None
    assert "type" in (oracle.mismatch([], [0.3], (0.3,)) or "")
    assert "length" in (oracle.mismatch([], [0.1, 0.2], [0.1, 0.2, 0.3]) or "")
    assert "type" in (oracle.mismatch([], 0.3, 0.30000001, same_type=False) or "")  # a NumPy float64


def test_the_tolerance_carries_over_to_later_inputs_of_the_same_run() -> None:
    # EvalPlus sets atol once it meets a float expected output and never resets it within a run: a
    # later int output is then compared with allclose, which passes a near miss of a huge int.
    oracle = Oracle(0, "f")
    assert oracle.mismatch([], 10**20 + 1, 10**20) is not None
    oracle.mismatch([], 0.5, 0.5)
    assert oracle.mismatch([], 10**20 + 1, 10**20) is None
    assert Oracle(0, "f").mismatch([], 10**20 + 1, 10**20) is not None  # a fresh run starts from 0 again


def test_is_floats_is_evalplus_definition() -> None:
    assert is_floats(1.5) and is_floats([1.0, 2.0]) and is_floats((0.5,))
    assert not is_floats([]) and not is_floats([1.0, 2]) and not is_floats(1)


def test_find_zero_passes_any_root_within_atol() -> None:
    oracle = Oracle(1e-4, "find_zero")
    xs = [-6, 11, -6, 1]  # (x - 1)(x - 2)(x - 3)
    assert oracle.mismatch([xs], 1.0, 3.0) is None  # not the canonical root, but a root
    assert oracle.mismatch([xs], 2.00001, 3.0) is None
    assert "root" in (oracle.mismatch([xs], 2.5, 3.0) or "")
    assert "compared" in (oracle.mismatch([xs], "x", 3.0) or "")  # math.pow refuses a string


def test_values_allclose_cannot_compare_are_wrong_not_errors() -> None:
    oracle = Oracle(1e-6, "f")
    assert oracle.mismatch([], ["a"], ["b"]) is not None
