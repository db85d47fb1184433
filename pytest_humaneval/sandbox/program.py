"""Building the program the sandbox runs from a problem and a completion."""

from __future__ import annotations

import functools

from ..dataset import Problem
from .client import Program


def build_program(problem: Problem, completion: str) -> Program:
    """The untrusted candidate (prompt + completion) and the trusted test that judges it."""
    return Program(
        candidate_source=problem.prompt + completion,
        entry_point=problem.entry_point,
        test_source=_trusted_source(problem.prompt, problem.test, problem.canonical_solution),
    )


@functools.lru_cache(maxsize=4096)
def _trusted_source(prompt: str, test: str, canonical_solution: str) -> str:
    """What runs on the trusted side: the prompt (its imports and helpers, which tests use) and the test.

    A prompt that ends in a bare signature does not compile alone; it then gets the dataset's reference
    body, which stays on this side with the test and is never shown to the candidate.
    """
    source = f"{prompt}\n{test}"
    try:
        compile(source, "<test>", "exec")
    except SyntaxError:
        return f"{prompt}{canonical_solution}\n{test}"
    return source
