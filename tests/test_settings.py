from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval import defaults
from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.gate import Threshold
from pytest_humaneval.settings import (
    ALL_OPTIONS,
    Option,
    Settings,
    default_ks,
    format_memory,
    parse_jobs,
    parse_k,
    parse_memory,
    resolve,
)


def make(
    cli: dict[str, Any] | None = None, ini: dict[str, Any] | None = None, env: dict[str, str] | None = None
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
    assert settings.timeout == 3.0 and settings.memory == 4 * 1024**3
    assert settings.k is None  # not named: the summary reports default_ks(n)


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
    assert make().jobs == len(os.sched_getaffinity(0))  # auto unless named: one per CPU
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


def test_default_ks_are_those_the_run_allows() -> None:
    assert default_ks(1) == (1,)
    assert default_ks(10) == (1, 10)
    assert default_ks(200) == (1, 10, 100)
    assert default_ks(9) == (1,) and default_ks(0) == ()


def option(name: str) -> Option:
    return next(o for o in ALL_OPTIONS if o.name == name)


# Three valid texts per option, each giving a different value: (command line, environment, ini).
PRECEDENCE: dict[str, tuple[Any, str, Any]] = {
    "model": ("canonical", "samples:s.jsonl", "openai:m"),
    "dataset": ("a.jsonl", "b.jsonl", "c.jsonl"),
    "tasks": ("1", "2", "3"),
    "n": ("1", "2", "3"),
    "timeout": ("1", "2", "3"),
    "memory": ("1GiB", "2GiB", "none"),
    "jobs": ("1", "2", "3"),
    "k": ("1", "1,2", "5"),
    "report": ("a", "b", "c"),
    "results": ("a", "b", "c"),
    "prompt-style": ("chat", "completion", "auto"),
    "temperature": ("0.1", "0.2", "0.3"),
    "top-p": ("0.1", "0.2", "0.3"),
    "max-tokens": ("1", "2", "3"),
    "seed": ("1", "2", "3"),
    "concurrency": ("1", "2", "3"),
    "base-url": ("http://a", "http://b", "http://c"),
    "request-timeout": ("1", "2", "3"),
    "retries": ("1", "2", "3"),
    "cache-dir": ("a", "b", "none"),
    "save-samples": ("a", "b", "c"),
    "fail-under": (["pass@1=0.1", "pass@10=0.2"], "pass@1=0.2", ["pass@1=0.3"]),
    "baseline": ("a", "b", "c"),
    "max-drop": (["0.1"], "pass@1=0.2", ["0.3"]),
    "alpha": ("0.1", "0.2", "0.3"),
    "html": ("a", "b", "c"),
    "require-isolation": ("all", "network", "writes,signals"),
    "data-dir": ("a", "b", "c"),
    "plus-url": ("http://a", "http://b", "http://c"),
    "min-time-limit": ("1", "2", "3"),
    "time-limit-factor": ("1", "2", "3"),
}


def test_every_option_has_a_precedence_case() -> None:
    assert sorted(PRECEDENCE) == sorted(o.name for o in ALL_OPTIONS)


@pytest.mark.parametrize("name", sorted(PRECEDENCE))
def test_each_option_takes_command_line_then_environment_then_ini(name: str) -> None:
    o = option(name)
    on_cli, in_env, in_ini = PRECEDENCE[name]
    # max-drop needs a baseline; name it where it cannot hide the option under test.
    extra = {"baseline": "b.json"} if name == "max-drop" else {}
    cli, env, ini = {**extra, o.name: on_cli}, {o.env: in_env}, {o.ini: in_ini}

    def value(settings: Settings) -> Any:
        return getattr(settings, o.field), settings.use_cache

    alone = [value(make(cli=cli)), value(make(cli=extra, env=env)), value(make(cli=extra, ini=ini))]
    assert len({repr(v) for v in alone}) == 3, alone  # the three sources are told apart
    assert value(make(cli=cli, env=env, ini=ini)) == alone[0]
    assert value(make(cli=extra, env=env, ini=ini)) == alone[1]


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("timeout", "x", "='x' is not a positive number of seconds, e.g. 3 or 0.5"),
        ("min-time-limit", "0", "='0' is not a positive number of seconds, e.g. 3 or 0.5"),
        ("time-limit-factor", "0", "='0' is not a number in "),
        ("plus-url", "ftp://x", "='ftp://x' is not an http"),
        ("n", "0", "='0' is not a positive integer, e.g. 1 or 10"),
        ("memory", "lots", "='lots' is not a size; use a number with an optional unit"),
        ("jobs", "0", "='0' is not a number of samples at once; use e.g. 2, 8 or auto"),
        ("k", "0", "='0': '0' is not a positive integer; use e.g. 1,10,100"),
        ("prompt-style", "x", "='x' is not a prompt style; use one of auto, completion, chat"),
        (
            "require-isolation",
            "network,disk",
            "='network,disk': 'disk' is not a guarantee; use all, none, or a comma-separated list of "
            "network, writes, reads, signals",
        ),
        ("temperature", "x", r"='x' is not a number in \[0, 2\]; use e.g. 0, 0.2 or 0.8"),
        ("seed", "-1", "='-1' is not a seed; use a non-negative integer"),
        ("base-url", "x", r"='x' is not an http\(s\) URL; use e.g. http://localhost:8000/v1"),
        ("retries", "-1", "='-1' is not a number of retries; use 0 or more"),
        ("fail-under", "0.5", "='0.5' is not of the form pass@K=VALUE, e.g. pass@1=0.62"),
        ("alpha", "2", "='2' is not a significance level between 0 and 1"),
    ],
)
@pytest.mark.parametrize("source", ["flag", "env", "ini"])
def test_a_bad_value_names_its_source_and_what_is_valid(
    name: str, bad: str, message: str, source: str
) -> None:
    o = option(name)
    where = {"flag": o.flag, "env": o.env, "ini": o.ini}[source]
    given = {"flag": {"cli": {o.name: bad}}, "env": {"env": {o.env: bad}}, "ini": {"ini": {o.ini: bad}}}
    with pytest.raises(HumanEvalInputError, match=f"^{where}{message}"):
        make(**given[source])


def test_a_cross_field_rule_names_the_source_of_the_option() -> None:
    with pytest.raises(
        HumanEvalInputError, match=r"^PYTEST_HUMANEVAL_MAX_DROP needs --humaneval-baseline=PATH"
    ):
        make(env={"PYTEST_HUMANEVAL_MAX_DROP": "0.02"})
    with pytest.raises(HumanEvalInputError, match=r"^humaneval_max_drop needs --humaneval-baseline=PATH"):
        make(ini={"humaneval_max_drop": ["0.02"]})
    assert make(env={"PYTEST_HUMANEVAL_MAX_DROP": "0.02"}, ini={"humaneval_baseline": "b.json"}).max_drop


def test_help_shows_the_default_from_the_settings() -> None:
    helps = {o.name: o.help for o in ALL_OPTIONS}
    assert helps["timeout"] == "Seconds each sample may run (default: 3)"
    assert helps["memory"].endswith("or none (default: 4GiB)")
    assert helps["request-timeout"].endswith("(default: 300)") and helps["retries"].endswith("(default: 5)")
    assert helps["alpha"].endswith("(default: 0.05)") and helps["jobs"].endswith("(default: auto)")
    assert helps["dataset"].endswith("(default: humaneval)")
    assert helps["k"].endswith("(default: those of 1,10,100 that n allows)")
    assert helps["max-tokens"].endswith("(default: 512 in completion style, 2048 in chat style)")
    assert "default" not in helps["report"] and "default" not in helps["fail-under"]
    assert helps["model"] == (
        "Model to evaluate: canonical, samples:PATH, openai:MODEL, hf:NAME_OR_PATH, "
        "python:MODULE:FUNCTION, or a plugin's prefix:NAME"
    )
    for o in ALL_OPTIONS:
        assert o.help[0].isupper() and not o.help.endswith("."), o.name
        assert o.default == getattr(Settings(), o.field)
    assert format_memory(defaults.MEMORY) == defaults.MEMORY_TEXT
    assert parse_memory(format_memory(3 * 1024**2 * 100)) == 3 * 1024**2 * 100


def test_every_field_but_use_cache_has_one_option() -> None:
    fields = [f.name for f in dataclasses.fields(Settings)]
    assert sorted(o.field for o in ALL_OPTIONS) == sorted(set(fields) - {"use_cache"})
    names = [name for o in ALL_OPTIONS for name in (o.flag, o.env, o.ini)]
    assert len(set(names)) == len(names)


def test_to_json_keeps_the_report_form() -> None:
    assert Settings().to_json() == {
        "model": None,
        "dataset": "humaneval",
        "tasks": None,
        "n": None,
        "timeout": 3.0,
        "memory": 4 * 1024**3,
        "jobs": len(os.sched_getaffinity(0)),
        "k": None,
        "fail_under": [],
        "baseline": None,
        "max_drop": [],
        "alpha": 0.05,
        "html": None,
        "report": None,
        "results": None,
        "prompt_style": "auto",
        "temperature": None,
        "top_p": None,
        "max_tokens": None,
        "seed": None,
        "concurrency": None,
        "base_url": None,
        "request_timeout": 300.0,
        "retries": 5,
        "cache_dir": None,
        "use_cache": True,
        "save_samples": None,
        "require_isolation": [],
        "data_dir": None,
        "plus_url": "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10",
        "min_time_limit": 1.0,
        "time_limit_factor": 4.0,
    }
    gated = make(cli={"fail-under": ["pass@1=0.62"], "max-drop": ["0.02"], "baseline": "b.json", "k": "1,10"})
    assert gated.to_json()["fail_under"] == ["pass@1=0.62"] and gated.to_json()["max_drop"] == ["0.02"]
    assert gated.to_json()["baseline"] == "/base/b.json" and gated.to_json()["k"] == [1, 10]


EVERY_FIELD_SET = Settings(
    model="hf:tiny",
    dataset="problems.jsonl",
    tasks="0-9,42",
    n=20,
    timeout=1.5,
    memory=None,
    jobs=3,
    k=(1, 5),
    fail_under=(Threshold(1, 0.123456789), Threshold(10, 0.8), Threshold(1, 0.9, base=True)),
    baseline=Path("/runs/base.json"),
    max_drop=(Threshold(None, 0.02), Threshold(1, 1 / 3), Threshold(None, 0.05, base=True)),
    alpha=0.01,
    html=Path("/runs/r.html"),
    report=Path("/runs/r.json"),
    results=Path("/runs/r_results.jsonl"),
    prompt_style="chat",
    temperature=0.7,
    top_p=0.9,
    max_tokens=128,
    seed=0,
    concurrency=4,
    base_url="http://127.0.0.1:8000/v1",
    request_timeout=12.5,
    retries=0,
    cache_dir=Path("/cache"),
    use_cache=False,
    save_samples=Path("/runs/samples.jsonl"),
    require_isolation=("network", "signals"),
    data_dir=Path("/data"),
    plus_url="http://127.0.0.1:8000/evalplus",
    min_time_limit=2.5,
    time_limit_factor=8.0,
)


def test_from_json_is_the_exact_inverse_of_to_json() -> None:
    fields = dataclasses.fields(Settings)
    assert [f.name for f in fields if getattr(EVERY_FIELD_SET, f.name) == f.default] == []
    for settings in (EVERY_FIELD_SET, Settings(), make(cli={"memory": "512MiB", "k": "3,1"})):
        wire = json.loads(json.dumps(settings.to_json()))  # as it travels to an xdist worker
        assert Settings.from_json(wire) == settings


def test_from_json_refuses_settings_of_another_version() -> None:
    data = Settings().to_json()
    with pytest.raises(ValueError, match=r"missing \['model'\], unknown \['colour'\]"):
        Settings.from_json({**{k: v for k, v in data.items() if k != "model"}, "colour": "red"})


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("all", ("network", "writes", "reads", "signals")),
        ("none", ()),
        ("signals, network", ("network", "signals")),  # the canonical order, whatever the given one
        ("reads,reads", ("reads",)),
    ],
)
def test_require_isolation_takes_all_none_or_a_list_of_guarantees(
    text: str, required: tuple[str, ...]
) -> None:
    assert make(cli={"require-isolation": text}).require_isolation == required
