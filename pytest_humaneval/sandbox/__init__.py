"""Judging one sample: the dataset's test runs here, the untrusted candidate in an isolated child."""

from __future__ import annotations

from .client import WALL_FACTOR, Limits, Program, Sandbox
from .outcome import OUTCOME_KINDS, Outcome, OutcomeKind
from .program import build_program

__all__ = [
    "OUTCOME_KINDS",
    "WALL_FACTOR",
    "Limits",
    "Outcome",
    "OutcomeKind",
    "Program",
    "Sandbox",
    "build_program",
]
