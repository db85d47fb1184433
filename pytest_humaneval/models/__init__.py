"""Model backends: where completions come from. One module per backend, behind one Protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..dataset import Dataset, Problem


@dataclass(frozen=True)
class Completion:
    """One sample for one problem: the text executed after the prompt, and the model's raw output."""

    task_id: str
    completion: str
    raw: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """What a backend is asked for: samples for `problems` (a selection from `dataset`)."""

    dataset: Dataset
    problems: tuple[Problem, ...]
    n: int | None  # samples per problem asked for on the command line; None: the backend's default


@runtime_checkable
class Backend(Protocol):
    """Anything that can produce completions. Register new ones with ``pytest_humaneval_make_backend``."""

    @property
    def name(self) -> str:
        """The spec that made this backend, for the report."""
        ...

    def complete(self, request: GenerationRequest) -> Sequence[Completion]:
        """Return the samples in the order they should be reported; several per task make n > 1."""
        ...


def builtin_backend(spec: str, base_dir: Path) -> Backend | None:
    """The backends that ship with the plugin, or None when `spec` is not one of them."""
    if spec == "canonical":
        from .canonical import CanonicalBackend

        return CanonicalBackend()
    if spec.startswith("samples:"):
        from .samples_file import SamplesFileBackend

        return SamplesFileBackend(spec, base_dir / spec.removeprefix("samples:"))
    return None


BUILTIN_SPECS = "canonical, samples:PATH"

__all__ = ["BUILTIN_SPECS", "Backend", "Completion", "GenerationRequest", "builtin_backend"]
