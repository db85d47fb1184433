"""The plain-Python parts of generation, called directly: retries, cache, progress, defaults, extras."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_humaneval.dataset import load
from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.generation import (
    DEFAULT_MAX_TOKENS,
    generate,
    import_extra,
    jobs_for,
    request_parts,
    sampling_warnings,
)
from pytest_humaneval.generation.cache import CompletionCache
from pytest_humaneval.generation.progress import Progress
from pytest_humaneval.generation.retry import (
    Backoff,
    GenerationError,
    TransientError,
    parse_retry_after,
    with_retries,
)
from pytest_humaneval.models import GenerationOptions, GenerationRequest, Sampling
from pytest_humaneval.settings import Settings


def flaky(failures: list[TransientError], answer: str = "ok") -> Callable[[], str]:
    """A call that raises the given failures in turn, then answers."""

    def call() -> str:
        if failures:
            raise failures.pop(0)
        return answer

    return call


def test_retries_honour_retry_after_and_back_off_exponentially() -> None:
    waits: list[float] = []
    failures = [
        TransientError("HTTP 429", retry_after=7.0),
        TransientError("HTTP 500"),
        TransientError("reset"),
    ]
    backoff = Backoff(retries=5, base=0.5, cap=30.0)
    assert with_retries(flaky(failures), "T/0 sample 0", backoff, sleep=waits.append) == "ok"
    assert waits[0] == 7.0  # what the server asked for
    assert 0.5 <= waits[1] <= 1.0 and 1.0 <= waits[2] <= 2.0  # base * 2**attempt, jittered down to half


def test_a_persistent_failure_names_the_sample_and_the_last_answer() -> None:
    waits: list[float] = []
    failures = [TransientError(f"HTTP 503: overloaded {i}") for i in range(10)]
    with pytest.raises(GenerationError) as raised:
        with_retries(flaky(failures), "T/3 sample 1", Backoff(retries=2), sleep=waits.append)
    assert str(raised.value) == "T/3 sample 1: failed after 3 attempts; last answer: HTTP 503: overloaded 2"
    assert len(waits) == 2


def test_backoff_is_capped_and_so_is_retry_after() -> None:
    backoff = Backoff(retries=20, base=1.0, cap=4.0)
    assert backoff.delay(10, None, rng=lambda: 1.0) == 4.0
    assert backoff.delay(0, 3600.0) == 120.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_cache_keeps_answers_and_ignores_a_torn_line(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path, {"backend": "openai", "model": "m", "base_url": "u"})
    key = cache.key("prompt", {"temperature": 0.0}, 0)
    cache.add(key, "T/0", 0, "    return 1\n")
    cache.close()
    with cache.path.open("a") as out:
        out.write('{"key": "torn", "raw": "    ret')  # what a kill in the middle of a write leaves
    assert CompletionCache(tmp_path, dict(cache.setup)).load() == {key: "    return 1\n"}
    header = json.loads(cache.path.read_text().splitlines()[0])
    assert header == {"setup": {"backend": "openai", "model": "m", "base_url": "u"}}


def test_cache_keys_change_with_everything_that_decides_an_answer(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path, {"model": "m"})
    base = cache.key("p", {"temperature": 0.8, "seed": 1}, 0)
    assert cache.key("p", {"temperature": 0.8, "seed": 1}, 0) == base
    assert cache.key("p ", {"temperature": 0.8, "seed": 1}, 0) != base
    assert cache.key("p", {"temperature": 0.7, "seed": 1}, 0) != base
    assert cache.key("p", {"temperature": 0.8, "seed": 2}, 0) != base
    assert cache.key("p", {"temperature": 0.8, "seed": 1}, 1) != base
    other = CompletionCache(tmp_path, {"model": "m2"})
    assert other.key("p", {"temperature": 0.8, "seed": 1}, 0) != base and other.path != cache.path


class Scripted:
    """A generator whose answers are the prompt's task id, counting what it is asked."""

    style = "completion"
    parallel = 2
    batch_size = 3

    def __init__(self, fail_on: str | None = None) -> None:
        self.asked: list[tuple[str, int]] = []
        self.fail_on = fail_on

    def setup(self) -> dict[str, str]:
        return {"backend": "scripted"}

    def generate(self, jobs: object) -> list[str]:
        answers = []
        for job in jobs:  # type: ignore[attr-defined]
            if job.problem.task_id == self.fail_on:
                raise GenerationError(f"{job.problem.task_id}: no")
            self.asked.append((job.problem.task_id, job.index))
            answers.append(f"    return {job.index}\n")
        return answers


def test_generate_uses_the_cache_and_keeps_samples_finished_before_a_failure(tmp_path: Path) -> None:
    dataset = load()
    request = GenerationRequest(
        dataset=dataset,
        problems=dataset.problems[:4],
        n=2,
        options=GenerationOptions(cache_dir=tmp_path),
    )
    failing = Scripted(fail_on="HumanEval/2")
    failing.parallel = failing.batch_size = 1  # one sample at a time, in plan order
    with pytest.raises(GenerationError, match="HumanEval/2: no"):
        generate(failing, request)  # type: ignore[arg-type]
    kept = set(failing.asked)  # what finished before the failure; HumanEval/3 never started
    assert kept == {(f"HumanEval/{t}", i) for t in (0, 1) for i in (0, 1)}
    fresh = Scripted()
    completions = generate(fresh, request)  # type: ignore[arg-type]
    assert set(fresh.asked) == {(p.task_id, i) for p in dataset.problems[:4] for i in range(2)} - kept
    assert [c.task_id for c in completions] == [p.task_id for p in dataset.problems[:4] for _ in range(2)]
    assert [c.completion for c in completions] == ["    return 0\n", "    return 1\n"] * 4
    again = Scripted()
    generate(again, request)  # type: ignore[arg-type]
    assert again.asked == []


def test_jobs_carry_per_sample_seeds_and_style_defaults() -> None:
    dataset = load()
    request = GenerationRequest(
        dataset=dataset, problems=dataset.problems[:2], n=3, sampling=Sampling(temperature=0.8, seed=10)
    )
    jobs = jobs_for(request, "completion")
    assert [(j.problem.task_id, j.index, j.sampling.seed) for j in jobs][:3] == [
        ("HumanEval/0", 0, 10),
        ("HumanEval/0", 1, 11),
        ("HumanEval/0", 2, 12),
    ]
    assert jobs[0].payload == dataset.problems[0].prompt
    assert jobs[0].sampling.max_tokens == DEFAULT_MAX_TOKENS["completion"] and jobs[0].sampling.stop
    chat = jobs_for(request, "chat")[0]
    assert isinstance(chat.payload, list) and chat.payload[0]["role"] == "user"
    assert chat.sampling.stop == () and chat.sampling.max_tokens == DEFAULT_MAX_TOKENS["chat"]


@pytest.mark.parametrize(
    ("settings", "temperature", "top_p"),
    [
        (Settings(), 0.0, 1.0),
        (Settings(n=1), 0.0, 1.0),
        (Settings(n=10), 0.8, 0.95),
        (Settings(n=10, temperature=0.2), 0.2, 0.95),
        (Settings(n=10, temperature=0.0), 0.0, 1.0),
        (Settings(temperature=0.5, top_p=0.9), 0.5, 0.9),
    ],
)
def test_sampling_defaults(settings: Settings, temperature: float, top_p: float) -> None:
    sampling, _ = request_parts(settings, None, False, Path("."))
    assert (sampling.temperature, sampling.top_p) == (temperature, top_p)


def test_greedy_with_several_samples_is_warned_about() -> None:
    greedy, _ = request_parts(Settings(n=10, temperature=0.0), None, False, Path("."))
    assert sampling_warnings(10, greedy) and "temperature" in sampling_warnings(10, greedy)[0]
    sampled, _ = request_parts(Settings(n=10), None, False, Path("."))
    assert sampling_warnings(10, sampled) == [] and sampling_warnings(1, greedy) == []


def test_a_missing_extra_names_the_install_command() -> None:
    with pytest.raises(HumanEvalInputError, match=r'pip install "pytest-humaneval\[hf\]"'):
        import_extra("no_such_module_for_pytest_humaneval", "hf", "hf:tiny")


def test_progress_bar_draws_only_when_enabled() -> None:
    stream = io.StringIO()
    progress = Progress(10, 4, enabled=True, stream=stream)
    for _ in range(6):
        progress.advance()
    progress.close()
    assert "10/10 (4 cached)" in stream.getvalue() and stream.getvalue().endswith("\n")
    quiet = io.StringIO()
    silent = Progress(10, 0, enabled=False, stream=quiet)
    silent.advance(10)
    silent.close()
    assert quiet.getvalue() == ""
