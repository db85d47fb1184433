"""The threaded driver: prompts out, raw answers in, completions kept. Controller side.

Every generating backend hands :func:`generate` a :class:`Generator` that turns a batch of prompts
into raw answers. The driver builds the jobs (:mod:`.prompting`), asks only for what the cache lacks,
runs batches in parallel threads, writes each finished sample to the cache, draws the progress bar,
and turns raw answers into completions (:mod:`.postprocess`). Plain Python, no pytest.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any, Protocol

from ..models.protocol import Completion, GenerationOptions, GenerationRequest, Origin
from .cache import CompletionCache
from .postprocess import extract
from .progress import Progress
from .prompting import Job, Style, jobs_for
from .retry import GenerationError


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
        generated = id(job) in fresh
        raw = fresh[id(job)] if generated else answers[job.key]
        completion = extract(job.problem.prompt, raw, style, job.problem.entry_point)
        origin: Origin = "generated" if generated else "cache"
        completions.append(Completion(job.problem.task_id, completion, raw, origin))
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
