"""EvalPlus's rules for whether one answer is right: exact equality, or closeness for floats.

Runs only in the trusted process, on plain values that crossed the sandbox boundary (see
:mod:`..sandbox._plain`): no object of the candidate's making takes part in a comparison.

The rules are EvalPlus 0.3.1's (``evalplus/eval/__init__.py``, ``unsafe_execute``), including one of its
quirks: the tolerance starts as the problem's ``atol`` for each run over a list of inputs, and once an
expected output is a float (or a non-empty list or tuple of floats) while it is 0, it becomes 1e-6 for
the rest of that run. With a non-zero tolerance, an answer that is not exactly equal must have the
expected output's type (and length, for lists and tuples) and pass ``numpy.allclose`` with
``rtol=1e-07``. HumanEval/32 (``find_zero``) has its own oracle: the answer must be a root of the input
polynomial within ``atol``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOAT_ATOL = 1e-6  # the tolerance EvalPlus enforces for float outputs when the problem sets none
RTOL = 1e-07  # numpy.testing.assert_allclose's default, which EvalPlus passes to allclose
POLY_ORACLE_ENTRY_POINT = "find_zero"  # HumanEval/32


def is_floats(value: Any) -> bool:
    """A float, or a non-empty list or tuple of nothing but floats."""
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(item, float) for item in value)
    return False


def poly(xs: Any, x: Any) -> Any:
    """The polynomial with coefficients `xs` at `x`, as HumanEval/32's prompt defines it."""
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


class Oracle:
    """Judges the answers of one run over a list of inputs, in order (the tolerance carries over)."""

    def __init__(self, atol: float, entry_point: str) -> None:
        self.atol = atol
        self.poly = entry_point == POLY_ORACLE_ENTRY_POINT

    def mismatch(self, arguments: list[Any], out: Any, expected: Any, same_type: bool = True) -> str | None:
        """Why `out` is wrong for these arguments, or None when it is right.

        `same_type` is False when the candidate's answer was not of a builtin type before it crossed (a
        NumPy scalar, a subclass): EvalPlus's type check then fails, as it would on the original object.
        """
        try:
            return self._mismatch(arguments, out, expected, same_type)
        except Exception as exc:  # allclose on values it cannot compare, a polynomial of strings
            return f"cannot be compared with the expected output ({type(exc).__name__}: {exc})"

    def _mismatch(self, arguments: list[Any], out: Any, expected: Any, same_type: bool) -> str | None:
        if self.poly:
            evaluate: Any = poly  # called as EvalPlus calls it: the input's arguments, then the answer
            residual = abs(evaluate(*arguments, out))
            if residual <= self.atol:
                return None
            return f"is not a root within {self.atol:g} (the polynomial is {residual:.6g} there)"
        exact = out == expected
        if self.atol == 0 and is_floats(expected):
            self.atol = FLOAT_ATOL
        if exact:
            return None
        if self.atol == 0:
            return "differs from the expected output"
        if not same_type or type(out) is not type(expected):
            return f"has type {type(out).__name__}, expected {type(expected).__name__}"
        if isinstance(expected, (list, tuple)) and len(out) != len(expected):
            return f"has length {len(out)}, expected {len(expected)}"
        if not np.allclose(out, expected, rtol=RTOL, atol=self.atol):
            return f"is not close to the expected output (atol {self.atol:g}, rtol {RTOL:g})"
        return None
