"""The `canonical` backend: the dataset's reference solutions, a self-test that must score 1.0."""

from __future__ import annotations

from . import Completion, GenerationRequest


class CanonicalBackend:
    """`--humaneval-n=N` repeats each reference solution N times (handy for benchmarks)."""

    name = "canonical"

    def complete(self, request: GenerationRequest) -> list[Completion]:
        n = request.n or 1
        return [
            Completion(problem.task_id, problem.canonical_solution)
            for problem in request.problems
            for _ in range(n)
        ]
