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
    implementation runs last and knows ``canonical`` and ``samples:PATH``.
    """
