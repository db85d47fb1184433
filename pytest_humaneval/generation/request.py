"""From a run's settings to what a backend is asked: the sampling settings and generation options.

Settings flow one way: this module reads a :class:`~pytest_humaneval.settings.Settings`, and
settings never imports generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import defaults
from ..models.protocol import GenerationOptions, Sampling

if TYPE_CHECKING:  # attributes only: no need to load the settings table to build a request
    from ..settings import Settings

DEFAULT_SAMPLED_TEMPERATURE = defaults.SAMPLED_TEMPERATURE
DEFAULT_SAMPLED_TOP_P = defaults.SAMPLED_TOP_P


def request_parts(
    settings: Settings, cache_dir: Path | None, progress: bool, base_dir: Path
) -> tuple[Sampling, GenerationOptions]:
    """The sampling settings and generation options of a run, defaults filled in."""
    sampled = (settings.n or 1) > 1
    temperature = settings.temperature
    if temperature is None:
        temperature = DEFAULT_SAMPLED_TEMPERATURE if sampled else 0.0  # greedy for one sample
    top_p = settings.top_p
    if top_p is None:
        top_p = DEFAULT_SAMPLED_TOP_P if temperature > 0 else 1.0
    sampling = Sampling(
        temperature=temperature, top_p=top_p, max_tokens=settings.max_tokens, seed=settings.seed
    )
    options = GenerationOptions(
        prompt_style=settings.prompt_style,
        concurrency=settings.concurrency,
        base_url=settings.base_url,
        request_timeout=settings.request_timeout,
        retries=settings.retries,
        cache_dir=cache_dir,
        progress=progress,
        base_dir=base_dir,
    )
    return sampling, options


def sampling_warnings(n: int | None, sampling: Sampling) -> list[str]:
    """What in the settings makes pass@k mean less than it seems."""
    if (n or 1) > 1 and sampling.temperature == 0:
        return [
            f"--humaneval-n={n} with --humaneval-temperature=0: greedy decoding gives the same answer "
            "n times, so pass@k for k > 1 equals pass@1; sample with a temperature above 0 (e.g. 0.8)"
        ]
    return []
