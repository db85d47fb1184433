"""What the sandbox runs for one sample: the untrusted candidate and the trusted test, from a problem."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..dataset import Problem

TEST_NAME = "<test>"  # the file name the trusted test source is compiled under


class Checker(Protocol):
    """Judges the answers of one run over a list of inputs, in order; may keep state between them."""

    def mismatch(self, index: int, value: Any, native: bool) -> str | None:
        """Why `value` (plain data) is the wrong answer to input `index`, or None when it is right.

        `native` is False when the candidate's value was not of a builtin type before it crossed.
        """

    def describe(self, index: int) -> str:
        """Input `index`, in words short enough for a one-line message."""


@dataclass(frozen=True)
class CallPart:
    """A list of inputs the entry point is called on, in a fresh child, stopping at the first failure."""

    name: str  # how messages and reports name it, e.g. "base" or "plus"
    count: int
    frames: Callable[[], Sequence[tuple[bytes, int]]]  # the inputs as wire frames: (frame, calls in it)
    limits: Sequence[float]  # seconds each call may run
    budget: float  # seconds the whole part may run
    checker: Callable[[], Checker]  # a fresh judge for one run over the inputs


@dataclass(frozen=True)
class Program:
    """One sample: the untrusted module, its entry point, and the trusted test that judges it.

    With `calls`, the sample is judged by calling its entry point on each part's inputs instead of by
    the test: part after part, each in a fresh child, stopping at the first failure.
    """

    candidate_source: str  # prompt + completion: runs in the sandbox
    entry_point: str
    test_source: str  # prompt + test: runs here; must define check(candidate)
    calls: tuple[CallPart, ...] = ()


def build_program(problem: Problem, completion: str) -> Program:
    """The program for one completion of `problem`: prompt + completion there, prompt + test here."""
    return Program(
        candidate_source=problem.prompt + completion,
        entry_point=problem.entry_point,
        test_source=trusted_source(problem),
    )


def trusted_source(problem: Problem) -> str:
    """What runs on the trusted side: the prompt (its imports and helpers, which tests use) and the test.

    A prompt that ends in a bare signature does not compile alone; it then gets the dataset's reference
    body, which stays on this side with the test and is never shown to the candidate.
    """
    return _trusted_source(problem.prompt, problem.test, problem.canonical_solution)


@functools.lru_cache(maxsize=4096)
def _trusted_source(prompt: str, test: str, canonical_solution: str) -> str:
    source = f"{prompt}\n{test}"
    try:
        compile(source, TEST_NAME, "exec")
    except SyntaxError:
        return f"{prompt}{canonical_solution}\n{test}"
    return source
