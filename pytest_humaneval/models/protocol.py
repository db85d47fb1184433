"""The interface between the plugin and its model backends: what is asked, and what comes back.

Backends and the generation machinery import their names from here, not from the package: its
``__init__`` re-exports this module and the table of built-in backends, and an implementation that
imported names through it would depend on the table that names the implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from .. import defaults
from ..dataset import Dataset, Problem

# Where a completion came from: generated now, read back from the cache, or given as it is (a file).
Origin = Literal["generated", "cache", "given"]


@dataclass(frozen=True)
class Completion:
    """One sample for one problem: the text executed after the prompt, and the model's raw output."""

    task_id: str
    completion: str
    raw: str | None = None
    origin: Origin = "given"


PromptStyle = Literal["auto", "completion", "chat"]


@dataclass(frozen=True)
class Sampling:
    """How one sample is drawn. `seed` is already the sample's own (the run's seed plus its index)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = None  # None: the backend's default for its prompt style
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationOptions:
    """How generating backends reach their model; none of it changes what a model is asked."""

    prompt_style: PromptStyle = "auto"
    concurrency: int | None = None  # parallel requests, or the batch size of a local model
    base_url: str | None = None
    request_timeout: float = defaults.REQUEST_TIMEOUT
    retries: int = defaults.RETRIES
    cache_dir: Path | None = None  # None: no cache
    progress: bool = False  # draw a progress bar on stderr
    base_dir: Path = Path(".")  # where relative paths and python: modules are looked up


@dataclass(frozen=True)
class GenerationRequest:
    """What a backend is asked for: samples for `problems` (a selection from `dataset`)."""

    dataset: Dataset
    problems: tuple[Problem, ...]
    n: int | None  # samples per problem asked for on the command line; None: the backend's default
    sampling: Sampling = field(default_factory=Sampling)  # the run's settings; seed is the run's seed
    options: GenerationOptions = field(default_factory=GenerationOptions)


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
