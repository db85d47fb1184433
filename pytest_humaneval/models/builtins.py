"""The backends that ship with the plugin, in one table: how each is written, what it is, where it lives.

Everything that lists the built-in backends derives from :data:`BUILTINS`: :func:`builtin_backend`,
the :data:`BUILTIN_SPECS` shown when a spec names no backend, the :data:`MODEL_HELP` of
``--humaneval-model``, and the list in the ``pytest_humaneval_make_backend`` hookspec's docstring
(a test keeps that one in step). A backend's module is imported only when a spec asks for it:
loading the plugin must not import openai, torch or transformers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .protocol import Backend


@dataclass(frozen=True)
class Builtin:
    """One built-in backend. Its class makes an instance with ``from_spec(spec, base_dir)``."""

    form: str  # as written on the command line; what comes before the first ":" is its prefix
    description: str  # one line, for the hookspec's documentation
    module: str  # in this package, imported on first use
    class_name: str

    @property
    def prefix(self) -> str:
        """What a spec starts with to name this backend: ``openai:``, or all of ``canonical``."""
        name, colon, _ = self.form.partition(":")
        return name + colon

    def claims(self, spec: str) -> bool:
        return spec.startswith(self.prefix) if self.prefix.endswith(":") else spec == self.prefix

    def factory(self) -> Callable[[str, Path], Backend]:
        """The class's ``from_spec``; importing the module here is what keeps the plugin light."""
        module = importlib.import_module(f"{__package__}.{self.module}")
        make: Callable[[str, Path], Backend] = getattr(module, self.class_name).from_spec
        return make


BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "canonical",
        "the dataset's reference solutions, a self-test that must score 1.0",
        "canonical",
        "CanonicalBackend",
    ),
    Builtin(
        "samples:PATH",
        "completions read from a samples file in openai/human-eval's format",
        "samples_file",
        "SamplesFileBackend",
    ),
    Builtin(
        "openai:MODEL",
        "any server that speaks OpenAI's completions or chat-completions API",
        "openai_api",
        "OpenAIBackend",
    ),
    Builtin(
        "hf:NAME_OR_PATH",
        "a local Hugging Face transformers causal language model",
        "hf",
        "HuggingFaceBackend",
    ),
    Builtin(
        "python:MODULE:FUNCTION",
        "a Python function, called as FUNCTION(prompt, sampling) for each sample",
        "python_callable",
        "PythonCallableBackend",
    ),
)

BUILTIN_SPECS = ", ".join(builtin.form for builtin in BUILTINS)

MODEL_HELP = f"Model to evaluate: {BUILTIN_SPECS}, or a plugin's prefix:NAME"


def builtin_backend(spec: str, base_dir: Path) -> Backend | None:
    """The built-in backend `spec` names, or None when it names none of them.

    `base_dir` is where relative paths (``samples:PATH``) and ``python:`` modules are looked up.
    """
    for builtin in BUILTINS:
        if builtin.claims(spec):
            return builtin.factory()(spec, base_dir)
    return None


def describe() -> str:
    """The table as a reST bullet list, one line per backend: the hookspec's docstring shows it."""
    return "\n".join(f"- ``{builtin.form}``: {builtin.description}" for builtin in BUILTINS)
