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
    ``complete(request)`` method (see :class:`pytest_humaneval.models.Backend`). A backend that
    generates can subclass :class:`pytest_humaneval.generation.GeneratingBackend` to get prompting,
    post-processing, concurrency, the cache and the progress bar.

    The built-in implementation runs last and knows these (the table in
    :mod:`pytest_humaneval.models.builtins`; a test keeps this list in step with it):

    - ``canonical``: the dataset's reference solutions, a self-test that must score 1.0
    - ``samples:PATH``: completions read from a samples file in openai/human-eval's format
    - ``openai:MODEL``: any server that speaks OpenAI's completions or chat-completions API
    - ``hf:NAME_OR_PATH``: a local Hugging Face transformers causal language model
    - ``python:MODULE:FUNCTION``: a Python function, called as FUNCTION(prompt, sampling) for each sample
    """
