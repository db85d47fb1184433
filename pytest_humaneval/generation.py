"""Generating samples from a model: prompts out, raw answers in, completions kept. Controller side.

Every generating backend (``openai:``, ``hf:``, ``python:``) hands this module a :class:`Generator`
that turns a batch of prompts into raw answers. This module decides what is asked (the prompt in the
backend's style, each sample's sampling settings), asks only for what the cache lacks, runs batches
in parallel threads, writes each finished sample to the cache, draws the progress bar, and turns raw
answers into completions. Plain Python, no pytest.
"""

from __future__ import annotations

import importlib
import itertools
import queue
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol

from .cache import CompletionCache
from .dataset import Problem
from .errors import HumanEvalInputError
from .models import Completion, GenerationOptions, GenerationRequest, PromptStyle, Sampling
from .postprocess import COMPLETION_STOPS, chat_message, extract
from .retry import GenerationError
from .settings import Settings

Style = Literal["completion", "chat"]
Payload = str | list[dict[str, str]]  # a prompt, or chat messages

DEFAULT_MAX_TOKENS: dict[Style, int] = {"completion": 512, "chat": 2048}  # chat answers think and explain
DEFAULT_SAMPLED_TEMPERATURE = 0.8
DEFAULT_SAMPLED_TOP_P = 0.95


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


class Generator(Protocol):
    """The part of a backend that talks to the model."""

    style: Style  # resolved: never "auto"
    parallel: int  # how many generate() calls may run at once, each in its own thread
    batch_size: int  # how many jobs one generate() call takes

    def setup(self) -> dict[str, Any]:
        """What, besides the prompt and sampling, decides the answers (model, server, ...): the cache key."""
        ...

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        """Raw answers for `jobs`, in order. Raise GenerationError when the model cannot answer."""
        ...


class GeneratingBackend(ABC):
    """A backend whose samples come from a model through :func:`generate`."""

    name: str

    def complete(self, request: GenerationRequest) -> list[Completion]:
        return generate(self.generator(request), request)

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


def resolve_style(asked: PromptStyle, auto: Style) -> Style:
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


def generate(generator: Generator, request: GenerationRequest) -> list[Completion]:
    """Completions for every sample of `request`: from the cache where it has them, else from the model."""
    options = request.options
    style = generator.style
    jobs = jobs_for(request, style)
    cache = None
    answers: dict[str, str] = {}
    if options.cache_dir is not None:
        cache = CompletionCache(options.cache_dir, {**generator.setup(), "style": style})
        jobs = [replace(j, key=cache.key(j.payload, asdict(j.sampling), j.index)) for j in jobs]
        answers = cache.load()
    pending = [j for j in jobs if not j.key or j.key not in answers]
    if generator.batch_size > 1:  # similar lengths together: less padding
        pending.sort(key=lambda j: len(j.prompt_text))
    batches = [pending[i : i + generator.batch_size] for i in range(0, len(pending), generator.batch_size)]
    fresh = _run(generator, batches, cache, options, done=len(jobs) - len(pending), total=len(jobs))
    completions = []
    for job in jobs:
        raw = fresh[id(job)] if id(job) in fresh else answers[job.key]
        completion = extract(job.problem.prompt, raw, style, job.problem.entry_point)
        completions.append(Completion(job.problem.task_id, completion, raw))
    return completions


def _run(
    generator: Generator,
    batches: list[list[Job]],
    cache: CompletionCache | None,
    options: GenerationOptions,
    done: int,
    total: int,
) -> dict[int, str]:
    """Run the batches, `generator.parallel` at a time; on failure, keep what finished, then raise.

    Batches are handed out as others finish, so a failure stops generation at once: nothing new
    starts, and what is in flight is kept if it finishes. The threads are daemons: Ctrl-C ends the
    run without waiting for requests in flight (finished samples are in the cache already).
    """
    from .progress import Progress

    progress = Progress(total, done, enabled=options.progress)
    answers: dict[int, str] = {}
    failure: BaseException | None = None
    todo: queue.SimpleQueue[list[Job] | None] = queue.SimpleQueue()
    finished: queue.SimpleQueue[tuple[list[Job], list[str] | BaseException]] = queue.SimpleQueue()

    def work() -> None:
        while (batch := todo.get()) is not None:
            try:
                finished.put((batch, generator.generate(batch)))
            except BaseException as exc:  # reported to the main thread, which decides
                finished.put((batch, exc))

    workers = max(1, min(generator.parallel, len(batches)))
    for number in range(workers):
        threading.Thread(target=work, name=f"humaneval-generate-{number}", daemon=True).start()
    waiting = iter(batches)
    in_flight = 0
    for batch in itertools.islice(waiting, workers):
        todo.put(batch)
        in_flight += 1
    try:
        while in_flight:
            batch, result = _next(finished)
            in_flight -= 1
            if not isinstance(result, BaseException) and (
                len(result) != len(batch) or not all(isinstance(r, str) for r in result)
            ):
                result = GenerationError(
                    f"the backend returned {len(result)} answers for {len(batch)} prompts; "
                    "generate() must return one string per job"
                )
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            for job, raw in zip(batch, result, strict=True):
                answers[id(job)] = raw
                if cache is not None:
                    cache.add(job.key, job.problem.task_id, job.index, raw)
            progress.advance(len(batch))
            if failure is None:
                for batch in itertools.islice(waiting, 1):
                    todo.put(batch)
                    in_flight += 1
    except KeyboardInterrupt:
        if cache is not None:
            sys.stderr.write(
                f"\nhumaneval: generation interrupted; {done + len(answers)} of {total} samples are in "
                f"the cache ({cache.path}): run again to resume\n"
            )
        raise
    finally:
        for _ in range(workers):
            todo.put(None)
        progress.close()
        if cache is not None:
            cache.close()
    if failure is not None:
        if isinstance(failure, GenerationError):
            raise failure
        raise GenerationError(f"the model backend failed: {type(failure).__name__}: {failure}") from failure
    return answers


def _next(
    finished: queue.SimpleQueue[tuple[list[Job], list[str] | BaseException]],
) -> tuple[list[Job], list[str] | BaseException]:
    while True:  # a timeout keeps the main thread responsive to Ctrl-C
        try:
            return finished.get(timeout=0.2)
        except queue.Empty:
            continue


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
