"""The base of every generating backend (``openai:``, ``hf:``, ``python:`` and plugins' own).

A subclass connects to or loads its model and hands :func:`.driver.generate` a
:class:`.driver.Generator`; prompting, post-processing, concurrency, the cache and the progress bar
come from the driver.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from types import ModuleType

from ..errors import HumanEvalInputError
from ..models.protocol import Completion, GenerationRequest
from .driver import Generator, generate


class GeneratingBackend(ABC):
    """A backend whose samples come from a model through :func:`generate`."""

    name: str

    def complete(self, request: GenerationRequest) -> list[Completion]:
        generator = self.generator(request)
        try:
            return generate(generator, request)
        finally:
            # A generator that holds connections (openai:'s HTTP client) may offer close(): called here,
            # also when generation failed, so that no socket is left for the garbage collector to find.
            close = getattr(generator, "close", None)
            if callable(close):
                close()

    @abstractmethod
    def generator(self, request: GenerationRequest) -> Generator:
        """Connect to or load the model for this request."""


def import_extra(module: str, extra: str, spec: str) -> ModuleType:
    """Import a backend's heavy dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise HumanEvalInputError(
            f"--humaneval-model={spec} needs the {module} package, which is not installed ({exc}); "
            f'install it with: pip install "pytest-humaneval[{extra}]"'
        ) from None
