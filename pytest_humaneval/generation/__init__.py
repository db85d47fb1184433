"""Generating samples from a model: prompting, the threaded driver, the cache, retries, post-processing.

Re-exports only. Each part is its own module: :mod:`.prompting` (what is asked), :mod:`.driver`
(:func:`generate`, running batches in threads), :mod:`.backend` (:class:`GeneratingBackend`),
:mod:`.postprocess` (raw answer to completion), :mod:`.cache`, :mod:`.retry`, :mod:`.progress` and
:mod:`.request` (settings to sampling and options). Plain Python, no pytest.
"""

from __future__ import annotations

from .backend import GeneratingBackend, import_extra
from .driver import Generator, generate
from .prompting import DEFAULT_MAX_TOKENS, Job, Payload, Style, jobs_for, resolve_style
from .request import DEFAULT_SAMPLED_TEMPERATURE, DEFAULT_SAMPLED_TOP_P, request_parts, sampling_warnings
from .retry import GenerationError, TransientError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_SAMPLED_TEMPERATURE",
    "DEFAULT_SAMPLED_TOP_P",
    "GeneratingBackend",
    "GenerationError",
    "Generator",
    "Job",
    "Payload",
    "Style",
    "TransientError",
    "generate",
    "import_extra",
    "jobs_for",
    "request_parts",
    "resolve_style",
    "sampling_warnings",
]
