"""Hooks that pytest-humaneval offers to other plugins and conftest files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .models import Backend


@pytest.hookspec(firstresult=True)
def pytest_humaneval_make_backend(spec: str, config: pytest.Config) -> Backend | None:
    """Return a model backend for ``--humaneval-model=SPEC``, or None if `spec` is not yours.

    Claim your own prefix (``mycompany:MODEL``) and return an object with a ``name`` and a
    ``complete(request)`` method (see :class:`pytest_humaneval.models.Backend`). The built-in
    implementation runs last and knows ``canonical``, ``samples:PATH``, ``openai:MODEL``,
    ``hf:NAME_OR_PATH`` and ``python:MODULE:FUNCTION``. A backend that generates can subclass
    :class:`pytest_humaneval.generation.GeneratingBackend` to get prompting, post-processing,
    concurrency, the cache and the progress bar.
    """
