"""What the sandbox runs for one sample: the untrusted candidate and the trusted test, from a problem."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..dataset import Problem

TEST_NAME = "<test>"  # the file name the trusted test source is compiled under


@dataclass(frozen=True)
class Program:
    """One sample: the untrusted module, its entry point, and the trusted test that judges it."""

    candidate_source: str  # prompt + completion: runs in the sandbox
    entry_point: str
    test_source: str  # prompt + test: runs here; must define check(candidate)


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
