"""The `samples:PATH` backend: completions read from a file in openai/human-eval's samples format."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import HumanEvalInputError
from .protocol import Completion, GenerationRequest


class SamplesFileBackend:
    """JSONL or JSONL.gz lines ``{"task_id": ..., "completion": ...}``; other fields are ignored.

    The number of samples per problem is however many lines the file has for it.
    """

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    @classmethod
    def from_spec(cls, spec: str, base_dir: Path) -> SamplesFileBackend:
        return cls(spec, base_dir / spec.removeprefix("samples:"))

    def complete(self, request: GenerationRequest) -> list[Completion]:
        if request.n is not None:
            raise HumanEvalInputError(
                f"--humaneval-n={request.n} does not apply to {self.name}: the samples file decides how many "
                "samples each problem has; drop --humaneval-n"
            )
        wanted = {problem.task_id for problem in request.problems}
        return [c for c in self.read(request) if c.task_id in wanted]

    def read(self, request: GenerationRequest) -> list[Completion]:
        """Every sample in the file, checked line by line against the dataset."""
        path = self.path
        if not path.is_file():
            raise HumanEvalInputError(f"--humaneval-model={self.name}: no such file ({path})")
        opener = gzip.open if path.name.endswith(".gz") else open
        completions: list[Completion] = []
        try:
            with opener(path, "rt", encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        completions.append(self._parse(line, f"{path}, line {number}", request))
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise HumanEvalInputError(f"{path}: cannot read it ({exc})") from None
        if not completions:
            raise HumanEvalInputError(f"{path}: contains no samples")
        return completions

    @staticmethod
    def _parse(line: str, where: str, request: GenerationRequest) -> Completion:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HumanEvalInputError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise HumanEvalInputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [key for key in ("task_id", "completion") if key not in record]
        if missing:
            raise HumanEvalInputError(
                f"{where}: missing field(s) {', '.join(missing)}; each line needs task_id and completion"
            )
        task_id, completion = record["task_id"], record["completion"]
        if not isinstance(completion, str):
            raise HumanEvalInputError(
                f"{where}: completion must be a string, got {type(completion).__name__}"
            )
        if not isinstance(task_id, str) or task_id not in request.dataset:
            raise HumanEvalInputError(
                f"{where}: task_id {task_id!r} is not in the dataset {request.dataset.name} "
                f"({len(request.dataset)} problems, e.g. {request.dataset.problems[0].task_id!r})"
            )
        return Completion(task_id=task_id, completion=completion)


def write_samples(path: Path, samples: Iterable[tuple[str, str]]) -> None:
    """Write (task_id, completion) pairs as a samples file (``.gz`` compressed by its name), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(tmp, "wt", encoding="utf-8") as out:
        for task_id, completion in samples:
            out.write(json.dumps({"task_id": task_id, "completion": completion}, ensure_ascii=False) + "\n")
    tmp.replace(path)
