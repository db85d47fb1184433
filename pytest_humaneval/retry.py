"""The old home of retries, now :mod:`pytest_humaneval.generation.retry`: re-exports only.

plugin.py still imports ``GenerationError`` from here; delete this module once it imports from
``pytest_humaneval.generation.retry`` instead.
"""

from __future__ import annotations

from .generation.retry import Backoff, GenerationError, TransientError, parse_retry_after, with_retries

__all__ = ["Backoff", "GenerationError", "TransientError", "parse_retry_after", "with_retries"]
