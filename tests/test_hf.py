"""The `hf:` backend with a tiny, randomly initialised GPT-2 and a tokenizer trained here, offline.

Its answers are noise, so these tests check the path, not the scores: the model loads from a
directory, prompts are batched with left padding (a batch gives what one-at-a-time gives), chat
templates are used when the tokenizer has one, and every sample reaches the report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_humaneval.dataset import Dataset, load
from pytest_humaneval.generation.postprocess import extract
from pytest_humaneval.models import Completion, GenerationOptions, GenerationRequest, Sampling

from .helpers import read_report
from .tiny_model import build_model

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, humaneval: Dataset) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny-gpt2"), humaneval, chat=False)


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory, humaneval: Dataset) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny-gpt2-chat"), humaneval, chat=True)


def complete(model: Path, humaneval: Dataset, batch: int, **sampling: object) -> list[Completion]:
    from pytest_humaneval.models.hf import HuggingFaceBackend

    backend = HuggingFaceBackend(f"hf:{model}")
    request = GenerationRequest(
        dataset=humaneval,
        problems=tuple(humaneval.problems[i] for i in (0, 2, 7)),  # prompts of different lengths
        n=1,
        sampling=Sampling(max_tokens=12, **sampling),  # type: ignore[arg-type]
        options=GenerationOptions(concurrency=batch),
    )
    return backend.complete(request)


def test_batches_with_left_padding_give_what_single_prompts_give(
    tiny_model: Path, humaneval: Dataset
) -> None:
    one_by_one = complete(tiny_model, humaneval, batch=1)
    batched = complete(tiny_model, humaneval, batch=3)
    assert [c.raw for c in batched] == [c.raw for c in one_by_one]
    assert all(c.raw for c in batched)  # 12 new tokens each, none of them the prompt


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_chat_model: Path, humaneval: Dataset) -> None:
    from pytest_humaneval.models.hf import HuggingFaceBackend

    backend = HuggingFaceBackend(f"hf:{tiny_chat_model}")
    request = GenerationRequest(dataset=humaneval, problems=humaneval.problems[:1], n=1)
    assert backend.generator(request).style == "chat"
    plain = GenerationRequest(
        dataset=humaneval,
        problems=humaneval.problems[:1],
        n=1,
        options=GenerationOptions(prompt_style="completion"),
    )
    assert backend.generator(plain).style == "completion"


# One mode, in-process: the model answers where generation happens, once, whichever way the samples
# are judged afterwards (test_generation.py shows that xdist workers never generate).
def test_the_whole_path_through_pytest(
    pytester: pytest.Pytester, tiny_model: Path, humaneval: Dataset
) -> None:
    result = pytester.runpytest(
        f"--humaneval-model=hf:{tiny_model}",
        "--humaneval-tasks=0-3",
        "--humaneval-n=2",
        "--humaneval-seed=0",
        "--humaneval-max-tokens=16",
        "--humaneval-concurrency=3",
        "--humaneval-k=1,2",
        "--humaneval-report=report.json",
        "--humaneval-cache-dir=cache",
        "-p",
        "no:xdist",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    result.stdout.fnmatch_lines([f"model: hf:{tiny_model}", "pass@2: *, 4 problems, n=2)"])
    report = read_report(pytester.path / "report.json")
    assert [(s["task_id"], s["sample"]) for s in report["samples"]] == [
        (f"HumanEval/{t}", i) for t in range(4) for i in range(2)
    ]
    for sample in report["samples"]:
        prompt = humaneval[sample["task_id"]].prompt
        assert sample["completion"] == extract(prompt, sample["raw"], "completion")
    cached = [line for f in (pytester.path / "cache").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(cached) == 1 + 8  # a header line and one line per sample
