"""Judging one sample: the dataset's test runs here, the untrusted candidate in an isolated child.

The layers, each a module: :mod:`.wire` (the messages, both ends), :mod:`.confine` (OS confinement),
:mod:`.forkserver` (the script hosting candidates), :mod:`.judge` (the trusted test), :mod:`.client`
(the fork server's lifecycle), :mod:`.program` and :mod:`.limits` (what to run, and within what).
"""

from __future__ import annotations

from .client import Sandbox
from .isolation import GUARANTEES, Isolation, refusal
from .limits import Limits
from .outcome import OUTCOME_KINDS, Outcome, OutcomeKind
from .program import Program, build_program
from .wire import TAMPER_KINDS, WALL_FACTOR

__all__ = [
    "GUARANTEES",
    "OUTCOME_KINDS",
    "TAMPER_KINDS",
    "WALL_FACTOR",
    "Isolation",
    "Limits",
    "Outcome",
    "OutcomeKind",
    "Program",
    "Sandbox",
    "build_program",
    "refusal",
]
