"""Running one untrusted program in an isolated child process and returning its outcome."""

from __future__ import annotations

from .client import Limits, Sandbox
from .outcome import OUTCOME_KINDS, Outcome, OutcomeKind

__all__ = ["OUTCOME_KINDS", "Limits", "Outcome", "OutcomeKind", "Sandbox"]
