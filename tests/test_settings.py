from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.settings import Settings, parse_jobs, parse_k, parse_memory, resolve


def make(
    cli: dict[str, str] | None = None, ini: dict[str, str] | None = None, env: dict[str, str] | None = None
) -> Settings:
    cli, ini = cli or {}, ini or {}

    def get_cli(name: str) -> Any:
        return cli.get(name)

    def get_ini(name: str) -> Any:
        return ini.get(name, "")

    return resolve(get_cli, get_ini, env or {}, Path("/base"))


def test_defaults_are_inert() -> None:
    settings = make()
    assert not settings.active
    assert settings == Settings()
    assert settings.timeout == 3.0 and settings.k == (1, 10, 100) and settings.memory == 4 * 1024**3


def test_command_line_beats_environment_beats_ini() -> None:
    ini = {"humaneval_timeout": "5", "humaneval_model": "canonical", "humaneval_k": "1"}
    env = {"PYTEST_HUMANEVAL_TIMEOUT": "4", "PYTEST_HUMANEVAL_K": "1,2"}
    assert make(ini=ini).timeout == 5.0
    assert make(ini=ini, env=env).timeout == 4.0
    assert make(cli={"timeout": "2"}, ini=ini, env=env).timeout == 2.0
    assert make(ini=ini, env=env).k == (1, 2)
    assert make(ini=ini).model == "canonical"


def test_paths_are_relative_to_the_invocation_directory() -> None:
    settings = make(cli={"report": "out/r.json", "results": "/abs/x.jsonl"})
    assert settings.report == Path("/base/out/r.json")
    assert settings.results == Path("/abs/x.jsonl")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4GiB", 4 * 1024**3),
        ("512M", 512 * 1024**2),
        ("1.5g", int(1.5 * 1024**3)),
        ("none", None),
        ("0", None),
        ("unlimited", None),
        ("134217728", 134217728),
    ],
)
def test_parse_memory(text: str, expected: int | None) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "4XB", "-1G", "10M"])
def test_parse_memory_rejects(text: str) -> None:
    with pytest.raises(HumanEvalInputError, match=r"--humaneval-memory="):
        parse_memory(text)


def test_parse_k() -> None:
    assert parse_k("1, 10,100,10") == (1, 10, 100)
    for bad in ("0", "1,x", "", "-1"):
        with pytest.raises(HumanEvalInputError, match="is not a positive integer"):
            parse_k(bad)


def test_parse_jobs() -> None:
    assert parse_jobs("3") == 3
    assert parse_jobs("auto") == len(os.sched_getaffinity(0))
    assert make().jobs == 1
    assert make(env={"PYTEST_HUMANEVAL_JOBS": "2"}).jobs == 2
    for bad in ("0", "many", "-2", "1.5"):
        with pytest.raises(
            HumanEvalInputError, match=r"--humaneval-jobs='.*' is not a number of samples at once"
        ):
            parse_jobs(bad)


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"timeout": "0"}, "--humaneval-timeout='0' is not a positive number"),
        ({"timeout": "soon"}, "--humaneval-timeout='soon' is not a positive number"),
        ({"timeout": "inf"}, "--humaneval-timeout='inf' is not a positive number"),
        ({"n": "0"}, "--humaneval-n='0' is not a positive integer"),
        ({"n": "2.5"}, "--humaneval-n='2.5' is not a positive integer"),
    ],
)
def test_invalid_values_name_the_option(cli: dict[str, str], message: str) -> None:
    with pytest.raises(HumanEvalInputError, match=message):
        make(cli=cli)


def test_invalid_ini_value_names_the_ini_key() -> None:
    with pytest.raises(HumanEvalInputError, match="humaneval_timeout='x'"):
        make(ini={"humaneval_timeout": "x"})


def test_generation_settings_and_their_twins() -> None:
    settings = make(
        cli={"temperature": "0.2", "concurrency": "32", "cache-dir": "c"},
        env={"PYTEST_HUMANEVAL_TOP_P": "0.9", "PYTEST_HUMANEVAL_PROMPT_STYLE": "chat"},
        ini={"humaneval_max_tokens": "256", "humaneval_seed": "7", "humaneval_base_url": "http://h:8000/v1"},
    )
    assert (settings.temperature, settings.top_p, settings.max_tokens, settings.seed) == (0.2, 0.9, 256, 7)
    assert (settings.prompt_style, settings.concurrency, settings.base_url) == (
        "chat",
        32,
        "http://h:8000/v1",
    )
    assert settings.cache_dir == Path("/base/c") and settings.use_cache
    assert make(cli={"cache-dir": "none"}).use_cache is False
    assert make(cli={"retries": "0", "request-timeout": "2.5"}).retries == 0
    assert make(cli={"save-samples": "out.jsonl"}).save_samples == Path("/base/out.jsonl")
    assert Settings().temperature is None and Settings().prompt_style == "auto"


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        (
            {"prompt-style": "instruct"},
            "--humaneval-prompt-style='instruct' is not a prompt style; use one of auto",
        ),
        ({"temperature": "-1"}, r"--humaneval-temperature='-1' is not a number in \[0, 2\]"),
        ({"temperature": "hot"}, r"--humaneval-temperature='hot' is not a number in \[0, 2\]"),
        ({"top-p": "0"}, r"--humaneval-top-p='0' is not a number in \(0, 1\]"),
        ({"top-p": "1.5"}, r"--humaneval-top-p='1.5' is not a number in \(0, 1\]"),
        ({"max-tokens": "0"}, "--humaneval-max-tokens='0' is not a positive integer"),
        ({"seed": "-3"}, "--humaneval-seed='-3' is not a seed; use a non-negative integer"),
        ({"concurrency": "many"}, "--humaneval-concurrency='many' is not a positive integer"),
        ({"base-url": "localhost:8000"}, "--humaneval-base-url='localhost:8000' is not an http"),
        ({"request-timeout": "0"}, "--humaneval-request-timeout='0' is not a positive number"),
        ({"retries": "-1"}, "--humaneval-retries='-1' is not a number of retries"),
    ],
)
def test_invalid_generation_values_name_the_option(cli: dict[str, str], message: str) -> None:
    with pytest.raises(HumanEvalInputError, match=message):
        make(cli=cli)


def test_invalid_environment_value_names_the_variable() -> None:
    with pytest.raises(HumanEvalInputError, match="PYTEST_HUMANEVAL_TEMPERATURE='x'"):
        make(env={"PYTEST_HUMANEVAL_TEMPERATURE": "x"})
