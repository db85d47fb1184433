"""The `python:MODULE:FUNCTION` backend: any Python function that answers a prompt.

The function is called once per sample as ``function(prompt, sampling)`` and returns the model's
answer as a string. `prompt` is the problem's prompt, unchanged (completion style, the default), or
the chat messages, a list of ``{"role": ..., "content": ...}`` dicts (``--humaneval-prompt-style=chat``).
`sampling` is a :class:`pytest_humaneval.models.Sampling` (temperature, top_p, max_tokens, the
sample's own seed, stop sequences). The answer goes through the same post-processing as any model's.
Calls run one at a time unless ``--humaneval-concurrency`` allows more threads.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import defaults
from ..errors import HumanEvalInputError
from ..generation.backend import GeneratingBackend
from ..generation.prompting import Job, Style, resolve_style
from ..generation.retry import GenerationError
from .protocol import GenerationRequest


class PythonCallableBackend(GeneratingBackend):
    def __init__(self, spec: str, base_dir: Path) -> None:
        self.name = spec
        module_name, _, function_name = spec.removeprefix("python:").partition(":")
        if not module_name or not function_name:
            raise HumanEvalInputError(
                f"--humaneval-model={spec!r} is not python:MODULE:FUNCTION; use e.g. python:mymodels:complete"
            )
        if str(base_dir) not in sys.path:
            sys.path.insert(0, str(base_dir))  # modules beside the project, as `python -m` finds them
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise HumanEvalInputError(
                f"--humaneval-model={spec!r}: cannot import module {module_name!r} ({exc})"
            ) from None
        target: Any = module
        for part in function_name.split("."):
            target = getattr(target, part, None)
        if not callable(target):
            raise HumanEvalInputError(
                f"--humaneval-model={spec!r}: module {module_name!r} has no function {function_name!r}"
            )
        self.function: Callable[..., Any] = target
        self.source_digest = _source_digest(module)

    @classmethod
    def from_spec(cls, spec: str, base_dir: Path) -> PythonCallableBackend:
        return cls(spec, base_dir)

    def generator(self, request: GenerationRequest) -> PythonCallableGenerator:
        options = request.options
        return PythonCallableGenerator(
            self,
            resolve_style(options.prompt_style, "completion"),
            options.concurrency or defaults.CONCURRENCY["python"],
        )


class PythonCallableGenerator:
    batch_size = 1

    def __init__(self, backend: PythonCallableBackend, style: str, parallel: int) -> None:
        self.backend = backend
        self.style: Style = "chat" if style == "chat" else "completion"
        self.parallel = parallel

    def setup(self) -> dict[str, Any]:
        # The module's source is part of the key: editing the function invalidates its cached answers.
        return {"backend": "python", "model": self.backend.name, "source": self.backend.source_digest}

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        answers = []
        for job in jobs:
            try:
                answer = self.backend.function(job.payload, job.sampling)
            except Exception as exc:
                raise GenerationError(
                    f"{job.problem.task_id} sample {job.index}: {self.backend.name} raised "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(answer, str):
                raise GenerationError(
                    f"{job.problem.task_id} sample {job.index}: {self.backend.name} returned "
                    f"{type(answer).__name__}, not the answer as a str"
                )
            answers.append(answer)
        return answers


def _source_digest(module: Any) -> str:
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return "unknown"
    return hashlib.sha256(source.encode()).hexdigest()
