"""The table of built-in backends, and everything derived from it, agree; the protocol stands alone."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_humaneval import defaults, hookspecs
from pytest_humaneval.models import (
    BUILTIN_SPECS,
    BUILTINS,
    MODEL_HELP,
    Builtin,
    GenerationOptions,
    builtin_backend,
)
from pytest_humaneval.models.builtins import describe

# A spec for each form, that builds without a model or a server.
EXAMPLES = {
    "canonical": "canonical",
    "samples:PATH": "samples:s.jsonl",
    "openai:MODEL": "openai:gpt-4o-mini",
    "hf:NAME_OR_PATH": "hf:./tiny",
    "python:MODULE:FUNCTION": "python:json:dumps",
}


def test_every_form_has_an_example() -> None:
    assert [builtin.form for builtin in BUILTINS] == list(EXAMPLES)


@pytest.mark.parametrize("builtin", BUILTINS, ids=lambda b: b.form)
def test_builtin_backend_makes_the_class_the_table_names(builtin: Builtin, tmp_path: Path) -> None:
    module = importlib.import_module(f"pytest_humaneval.models.{builtin.module}")
    backend = builtin_backend(EXAMPLES[builtin.form], tmp_path)
    assert backend is not None and type(backend) is getattr(module, builtin.class_name)
    assert backend.name == EXAMPLES[builtin.form]
    assert [b for b in BUILTINS if b.claims(EXAMPLES[builtin.form])] == [builtin]


def test_samples_path_is_relative_to_base_dir(tmp_path: Path) -> None:
    backend = builtin_backend("samples:sub/s.jsonl", tmp_path)
    assert backend is not None and backend.path == tmp_path / "sub" / "s.jsonl"  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec", ["vertex:gemini", "canonical:x", "openai", "hf", "", "CANONICAL"])
def test_an_unknown_spec_is_not_claimed(spec: str) -> None:
    assert builtin_backend(spec, Path.cwd()) is None


def test_specs_and_help_come_from_the_table() -> None:
    forms = [builtin.form for builtin in BUILTINS]
    assert ", ".join(forms) == BUILTIN_SPECS
    assert MODEL_HELP == (
        "Model to evaluate: canonical, samples:PATH, openai:MODEL, hf:NAME_OR_PATH, "
        "python:MODULE:FUNCTION, or a plugin's prefix:NAME"
    )


def test_the_hookspec_lists_the_table() -> None:
    doc = inspect.cleandoc(hookspecs.pytest_humaneval_make_backend.__doc__ or "")
    listed = [line for line in doc.splitlines() if line.startswith("- ``")]
    assert "\n".join(listed) == describe()


def test_generation_options_take_the_shared_defaults() -> None:
    options = GenerationOptions()
    assert (options.request_timeout, options.retries) == (defaults.REQUEST_TIMEOUT, defaults.RETRIES)


@pytest.mark.parametrize(
    "module",
    [
        "pytest_humaneval.models.protocol",
        "pytest_humaneval.models.builtins",
        "pytest_humaneval.generation",
        "pytest_humaneval.generation.driver",
        "pytest_humaneval.models.canonical",
    ],
)
def test_imports_alone_and_stays_light(module: str) -> None:
    # A fresh interpreter: an import cycle fails here whichever module is imported first.
    code = (
        f"import sys, {module}\n"
        "heavy = {'datasets', 'torch', 'transformers', 'openai'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
