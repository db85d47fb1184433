"""The `openai:` backend against a real OpenAI-compatible server that is not ours: ``transformers serve``.

The server runs as a subprocess on 127.0.0.1, offline, pinned to the tiny GPT-2 the hf tests build
(with a chat template), behind a recording proxy (``tests/real_server.py``) that counts requests and
keeps exactly what the server sent. The plugin runs against it in both prompt styles, as a user would
run it; the tests check the path, not the scores (the model's answers are noise). What this server
does differently from our imitation (``tests/openai_server.py``) is pinned down here, and the
imitation does the same in ``tests/test_server_quirks.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_humaneval.dataset import Dataset, load
from pytest_humaneval.generation.postprocess import COMPLETION_STOPS, chat_message, extract

from .helpers import ADD_PROBLEM, read_report, write_jsonl
from .real_server import Exchange, RecordingProxy, TransformersServe
from .tiny_model import CONTEXT, build_model

pytest.importorskip("fastapi", reason="transformers serve needs the transformers[serving] extra")
pytest.importorskip("uvicorn", reason="transformers serve needs the transformers[serving] extra")

TASKS = range(4)
N = 2


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, humaneval: Dataset) -> Path:
    return build_model(tmp_path_factory.mktemp("served-gpt2"), humaneval, chat=True)


@pytest.fixture(scope="module")
def proxy(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingProxy]:
    with (
        TransformersServe(model, tmp_path_factory.mktemp("hf-home")) as server,
        RecordingProxy(server.port) as recording,
    ):
        yield recording


def run(pytester: pytest.Pytester, proxy: RecordingProxy, model: str, *args: str) -> pytest.RunResult:
    """In-process, without xdist: generation happens here, whichever way samples are judged."""
    return pytester.runpytest(
        f"--humaneval-model=openai:{model}",
        f"--humaneval-base-url={proxy.url}",
        "--humaneval-max-tokens=16",
        "--humaneval-report=report.json",
        "--humaneval-cache-dir=cache",
        "-p",
        "no:xdist",
        *args,
    )


def sent_text(exchange: Exchange) -> str:
    """What a request asked about: the prompt, or the user message."""
    request = exchange.request
    return str(request["prompt"] if "prompt" in request else request["messages"][-1]["content"])


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_every_sample_generated_once_then_served_from_the_cache(
    pytester: pytest.Pytester, proxy: RecordingProxy, model: Path, humaneval: Dataset, style: str
) -> None:
    args = (
        f"--humaneval-prompt-style={style}",
        "--humaneval-tasks=0-3",
        f"--humaneval-n={N}",
        "--humaneval-seed=0",
    )
    start = proxy.total
    first = run(pytester, proxy, str(model), *args)
    sent = proxy.since(start)
    outcomes = first.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(TASKS) * N, first.stdout.str()
    first.stdout.fnmatch_lines(
        [f"generation: {len(TASKS) * N} samples from openai:{model}: 8 generated, 0 from*"]
    )

    # One request per sample, to the style's endpoint, each answered.
    problems = [humaneval.problems[t] for t in TASKS]
    payload = {p.task_id: p.prompt if style == "completion" else chat_message(p.prompt) for p in problems}
    endpoint = "/v1/completions" if style == "completion" else "/v1/chat/completions"
    assert [e.path for e in sent] == [endpoint] * len(TASKS) * N
    assert all(e.status == 200 for e in sent), [e.body for e in sent if e.status != 200]
    asked = sorted((sent_text(e), e.request["seed"]) for e in sent)
    assert asked == sorted((payload[p.task_id], i) for p in problems for i in range(N))
    if style == "completion":
        assert all(e.request["stop"] == list(COMPLETION_STOPS) for e in sent)
    else:
        assert all("stop" not in e.request for e in sent)

    # The report's raw answers are what the server sent, and the completions are extracted from them.
    answer = {(sent_text(e), e.request["seed"]): e.text for e in sent}
    report = read_report(pytester.path / "report.json")
    assert len(report["samples"]) == len(TASKS) * N
    for sample in report["samples"]:
        prompt = humaneval[sample["task_id"]].prompt
        assert sample["raw"] == answer[(payload[sample["task_id"]], sample["sample"])]
        assert sample["completion"] == extract(prompt, sample["raw"], style)

    # A second run asks nothing and judges the same answers.
    before = proxy.total
    second = run(pytester, proxy, str(model), *args)
    assert proxy.total == before
    second.stdout.fnmatch_lines([f"generation: * 0 generated, {len(TASKS) * N} from the cache*"])
    again = read_report(pytester.path / "report.json")
    assert [(s["raw"], s["outcome"]) for s in again["samples"]] == [
        (s["raw"], s["outcome"]) for s in report["samples"]
    ]


def test_an_unknown_model_name_is_reported_with_the_servers_message(
    pytester: pytest.Pytester, proxy: RecordingProxy
) -> None:
    start = proxy.total
    result = run(pytester, proxy, "no-such-model", "--humaneval-tasks=0-1", "--humaneval-concurrency=1")
    refused = proxy.since(start)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert len(refused) == 1 and refused[0].status == 400  # permanent: not retried, nothing else asked
    message = refused[0].answer()["detail"]  # FastAPI's shape, not OpenAI's {"error": {"message"}}
    assert "no-such-model" in message
    output = result.stdout.str() + result.stderr.str()
    assert (
        f"humaneval: generation failed: HumanEval/0 sample 0: chat request to {proxy.url} "
        f"(model no-such-model): HTTP 400: {message}"
    ) in output


def test_a_prompt_longer_than_the_context_is_reported_with_the_servers_message(
    pytester: pytest.Pytester, proxy: RecordingProxy, model: Path
) -> None:
    long = {
        "task_id": "T/1",
        "prompt": 'def long():\n    """' + "Return the sum of all the numbers. " * CONTEXT + '"""\n',
        "canonical_solution": "    return 0\n",
        "test": "def check(candidate):\n    assert candidate() == 0\n",
        "entry_point": "long",
    }
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM, long])
    start = proxy.total
    result = run(
        pytester,
        proxy,
        str(model),
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-prompt-style=completion",
        "--humaneval-concurrency=1",
        "--humaneval-retries=1",
    )
    sent = proxy.since(start)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert [e.status for e in sent] == [200, 500, 500]  # T/0, then T/1 and its one retry
    assert all(sent_text(e) == long["prompt"] for e in sent[1:])
    message = sent[-1].body.decode()  # a plain-text body: the server says no more than this
    output = result.stdout.str() + result.stderr.str()
    assert (
        f"humaneval: generation failed: T/1 sample 0: completion request to {proxy.url} (model {model}): "
        f"failed after 2 attempts; last answer: HTTP 500: {message}"
    ) in output
    # The sample that was answered is in the cache: a rerun with a shorter prompt asks for T/1 only.
    files = (pytester.path / "cache").glob("*.jsonl")
    cached = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [(c["task_id"], c["index"]) for c in cached if "key" in c] == [("T/0", 0)]


def test_the_server_keeps_the_stop_string_it_stopped_at(
    proxy: RecordingProxy, model: Path, humaneval: Dataset
) -> None:
    """OpenAI's API, vLLM and our imitation drop it; transformers serve keeps it (the backend cuts it)."""
    import openai

    with openai.OpenAI(base_url=proxy.url, api_key="none", max_retries=0) as client:

        def greedy(prompt: str, stop: list[str] | None) -> str:
            answer = client.completions.create(
                model=str(model), prompt=prompt, max_tokens=32, temperature=0, stop=stop
            )
            return answer.choices[0].text

        # The model's answers are noise: take the first prompt whose answer has a two-character string,
        # past its start, that is not found earlier in it.
        for problem in humaneval.problems[:8]:
            full = greedy(problem.prompt, None)
            at = next((i for i in range(1, len(full) - 3) if full.index(full[i : i + 2]) == i), None)
            if at is not None:
                break
        assert at is not None, "no answer of the first 8 prompts has a usable stop string"
        stop = full[at : at + 2]
        stopped = greedy(problem.prompt, [stop])
    # Generation ends at the token that completes the stop string, which stays in the text.
    assert stopped.startswith(full[:at] + stop) and full.startswith(stopped)
