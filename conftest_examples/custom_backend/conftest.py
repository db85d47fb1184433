"""Register your own model backend under your own prefix: ``pytest --humaneval-model=constant:TEXT``.

Copy this file into your project's conftest.py (or a plugin) and replace the body of `complete`
with a call to your model. Every problem gets one sample whose body is ``    TEXT``.
"""

from __future__ import annotations

import pytest

from pytest_humaneval.models import Completion, GenerationRequest


class ConstantBackend:
    def __init__(self, spec: str) -> None:
        self.name = spec
        self.body = spec.removeprefix("constant:")

    def complete(self, request: GenerationRequest) -> list[Completion]:
        n = request.n or 1
        return [Completion(p.task_id, f"    {self.body}\n") for p in request.problems for _ in range(n)]


def pytest_humaneval_make_backend(spec: str, config: pytest.Config) -> ConstantBackend | None:
    return ConstantBackend(spec) if spec.startswith("constant:") else None
