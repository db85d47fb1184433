"""Judging one sample: the dataset's test runs here, the untrusted candidate in an isolated child."""

from __future__ import annotations

from .client import Limits, Program, Sandbox
from .outcome import OUTCOME_KINDS, Outcome, OutcomeKind

__all__ = ["OUTCOME_KINDS", "Limits", "Outcome", "OutcomeKind", "Program", "Sandbox"]
