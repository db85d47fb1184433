"""The `canonical` backend: the dataset's reference solutions, a self-test that must score 1.0."""

from __future__ import annotations

from pathlib import Path

from .protocol import Completion, GenerationRequest


class CanonicalBackend:
    """`--humaneval-n=N` repeats each reference solution N times (handy for benchmarks)."""

    name = "canonical"

    @classmethod
    def from_spec(cls, spec: str, base_dir: Path) -> CanonicalBackend:
        return cls()

    def complete(self, request: GenerationRequest) -> list[Completion]:
        n = request.n or 1
        return [
            Completion(problem.task_id, problem.canonical_solution)
            for problem in request.problems
            for _ in range(n)
        ]
