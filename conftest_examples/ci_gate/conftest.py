"""A custom model function for CI: completions from a vLLM server (or any OpenAI-compatible server).

Copy this file to your project's conftest.py. ``pytest --humaneval-model=vllm:MODEL`` then asks the
server at ``$HUMANEVAL_OPENAI_BASE_URL`` (default http://127.0.0.1:8000/v1) for completions of every
prompt with ``POST /completions``. Only the standard library is used: the plugin stays importable on
a machine without an OpenAI client.

Environment: ``HUMANEVAL_SAMPLES`` (samples per problem, default 1; use 10 or more for pass@10),
``HUMANEVAL_TEMPERATURE`` (default 0 for one sample, 0.8 otherwise), ``HUMANEVAL_MAX_TOKENS`` (512).
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from pytest_humaneval.models import Completion, GenerationRequest

# Where a function body ends: the model starts a new top-level statement.
STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "]


def generate(base_url: str, model: str, prompt: str, n: int, temperature: float) -> list[str]:
    """One call to the server's completions endpoint: `n` continuations of `prompt`."""
    body = {
        "model": model,
        "prompt": prompt,
        "n": n,
        "temperature": temperature,
        "max_tokens": int(os.environ.get("HUMANEVAL_MAX_TOKENS", "512")),
        "stop": STOP,
    }
    request = urllib.request.Request(
        f"{base_url}/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        choices = json.load(response)["choices"]
    return [choice["text"] for choice in sorted(choices, key=lambda c: c["index"])]


class OpenAICompatibleBackend:
    def __init__(self, spec: str) -> None:
        self.name = spec
        self.model = spec.removeprefix("vllm:")
        self.base_url = os.environ.get("HUMANEVAL_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1").rstrip("/")

    def complete(self, request: GenerationRequest) -> list[Completion]:
        n = request.n or int(os.environ.get("HUMANEVAL_SAMPLES", "1"))
        temperature = float(os.environ.get("HUMANEVAL_TEMPERATURE", "0" if n == 1 else "0.8"))
        completions = []
        for problem in request.problems:
            for text in generate(self.base_url, self.model, problem.prompt, n, temperature):
                completions.append(Completion(problem.task_id, text, raw=text))
        return completions


def pytest_humaneval_make_backend(spec: str, config: pytest.Config) -> OpenAICompatibleBackend | None:
    return OpenAICompatibleBackend(spec) if spec.startswith("vllm:") else None
