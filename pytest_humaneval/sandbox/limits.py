"""The resource limits of one sample, with the defaults that settings shows in ``--help``."""

from __future__ import annotations

from dataclasses import dataclass

from .. import defaults


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sample."""

    timeout: float = (
        defaults.TIMEOUT
    )  # seconds the candidate may run, not counting time spent waiting for a CPU
    memory: int | None = defaults.MEMORY  # bytes of address space; None: no limit
    output_limit: int = (
        defaults.OUTPUT_LIMIT
    )  # characters of the candidate's stdout/stderr kept for the report
