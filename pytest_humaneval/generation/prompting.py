"""What a model is asked for each sample: the payload in the backend's prompt style, and its sampling.

Plain Python, no pytest. The payload and the sampling settings built here go into the cache key
(see :mod:`.cache`): changing either makes every cached answer miss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .. import defaults
from ..dataset import Problem
from ..models.protocol import GenerationRequest, PromptStyle, Sampling
from .postprocess import COMPLETION_STOPS, chat_message

Style = Literal["completion", "chat"]
Payload = str | list[dict[str, str]]  # a prompt, or chat messages

DEFAULT_MAX_TOKENS: dict[Style, int] = {
    "completion": defaults.MAX_TOKENS["completion"],
    "chat": defaults.MAX_TOKENS["chat"],
}


@dataclass(frozen=True)
class Job:
    """One sample to generate: what is sent, and how it is sampled."""

    problem: Problem
    index: int
    payload: Payload
    sampling: Sampling
    key: str = ""

    @property
    def prompt_text(self) -> str:
        """The prompt as one string (the user message for chat), for backends that want text."""
        return self.payload if isinstance(self.payload, str) else self.payload[-1]["content"]


def resolve_style(asked: PromptStyle, auto: Style) -> Style:
    """The prompt style asked for, or the backend's own choice `auto` when asked for "auto"."""
    return auto if asked == "auto" else asked


def jobs_for(request: GenerationRequest, style: Style) -> list[Job]:
    """Every sample of the request, in plan order, with its payload and its own sampling settings."""
    run = request.sampling
    sampling = replace(
        run,
        max_tokens=run.max_tokens or DEFAULT_MAX_TOKENS[style],
        stop=COMPLETION_STOPS if style == "completion" else (),
    )
    jobs = []
    for problem in request.problems:
        payload: Payload = (
            problem.prompt
            if style == "completion"
            else [{"role": "user", "content": chat_message(problem.prompt)}]
        )
        for index in range(request.n or 1):
            seed = None if run.seed is None else run.seed + index  # n samples, n different draws
            jobs.append(Job(problem, index, payload, replace(sampling, seed=seed)))
    return jobs
