"""A run's HumanEval+ tests: each problem's inputs, expected outputs and time limits, and how they travel.

Built once, on the controller, from the problem set and the expected outputs (:mod:`.expected`); xdist
workers receive its wire form (compressed JSON inside the plan's), so a worker on another machine needs
neither the dataset file nor the canonical solutions' outputs computed again.

A sample is judged in two parts, as EvalPlus 0.3.1 judges it: the base inputs (HumanEval's own), then
the plus inputs, each in a fresh child and each stopping at its first failure. "base" passes when the
first part does, "plus" (the HumanEval+ verdict) when both do.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import defaults
from ..dataset import Problem
from ..sandbox import wire
from ..sandbox._plain import from_tree, to_tree
from ..sandbox.program import CallPart
from .expected import ExpectedStore
from .oracle import Oracle

PARTS = ("base", "plus")
BATCH_CALLS = 64  # inputs per batch frame at most
BATCH_BYTES = 1 << 20  # and about this many bytes
SHOWN_INPUT = 160  # characters of an input shown in a message
INLINE_BYTES = 256 * 1024  # a problem's expected outputs travel to workers when their file is this small
DECODED_PROBLEMS = 4  # problems whose decoded expected outputs are kept in memory


@dataclass(frozen=True)
class PlusProblem:
    """One problem's HumanEval+ tests: its inputs (JSON values, as in the file) and reference times.

    The expected outputs travel inline when they are small (`expected`); otherwise they are read from
    the expected-output store by `key`, or computed again from `source` where the store lacks them.
    """

    task_id: str
    entry_point: str
    atol: float
    key: str  # the fingerprint the store files its expected outputs under
    source: str  # prompt + canonical solution
    inputs: Mapping[str, list[Any]]  # part -> argument lists
    times: Mapping[str, list[float]]  # part -> the canonical solution's seconds per input
    expected: Mapping[str, list[Any]] | None = None  # part -> outputs as plain-data trees (small only)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "entry_point": self.entry_point,
            "atol": self.atol,
            "key": self.key,
            "source": self.source,
            "inputs": dict(self.inputs),
            "times": dict(self.times),
            "expected": None if self.expected is None else dict(self.expected),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlusProblem:
        return cls(
            task_id=data["task_id"],
            entry_point=data["entry_point"],
            atol=float(data["atol"]),
            key=data["key"],
            source=data["source"],
            inputs=data["inputs"],
            times=data["times"],
            expected=data["expected"],
        )

    @functools.cached_property
    def frames(self) -> dict[str, tuple[tuple[bytes, int], ...]]:
        """part -> its inputs as batch frames, built once."""
        return {part: _batches(self.inputs[part]) for part in PARTS}


class _Checker:
    def __init__(self, entry_point: str, inputs: list[Any], expected: list[Any], atol: float) -> None:
        self.entry_point = entry_point
        self.inputs = inputs
        self.expected = expected
        self.oracle = Oracle(atol, entry_point)

    def mismatch(self, index: int, value: Any, native: bool) -> str | None:
        return self.oracle.mismatch(self.inputs[index], value, self.expected[index], native)

    def describe(self, index: int) -> str:
        return describe_call(self.entry_point, self.inputs[index])


def describe_call(entry_point: str, arguments: list[Any]) -> str:
    """``name(arg, ...)``, shortened to about SHOWN_INPUT characters."""
    text = ", ".join(repr(argument) for argument in arguments)
    if len(text) > SHOWN_INPUT:
        text = text[: SHOWN_INPUT - 3] + "..."
    return f"{entry_point}({text})"


def _batches(inputs: list[Any]) -> tuple[tuple[bytes, int], ...]:
    """The inputs as batch frames of at most BATCH_CALLS calls and about BATCH_BYTES each."""
    frames: list[tuple[bytes, int]] = []
    batch: list[Any] = []
    size = 0
    for arguments in inputs:
        tree = to_tree(list(arguments))
        batch.append(tree)
        size += len(json.dumps(tree))
        if len(batch) >= BATCH_CALLS or size >= BATCH_BYTES:
            frames.append((wire.frame(wire.batch(batch)), len(batch)))
            batch, size = [], 0
    if batch:
        frames.append((wire.frame(wire.batch(batch)), len(batch)))
    return tuple(frames)


class PlusSuite:
    """Every planned problem's HumanEval+ tests, the time limits they run under, and their outputs."""

    def __init__(
        self,
        problems: Mapping[str, PlusProblem],
        store: Path,
        min_time_limit: float = defaults.MIN_TIME_LIMIT,
        time_limit_factor: float = defaults.TIME_LIMIT_FACTOR,
    ) -> None:
        self.problems = problems
        self.store = ExpectedStore(store)
        self.min_time_limit = min_time_limit
        self.time_limit_factor = time_limit_factor
        # Decoded expected outputs of the problems being judged: samples come problem after problem,
        # and one problem's outputs can take a gigabyte of Python objects.
        self._expected = functools.lru_cache(maxsize=DECODED_PROBLEMS)(self._decode)
        self._lock = threading.Lock()

    def parts(self, task_id: str) -> tuple[CallPart, ...]:
        """The base part, then the plus part, of one problem."""
        problem = self.problems[task_id]
        return tuple(self._part(problem, name) for name in PARTS)

    def _part(self, problem: PlusProblem, name: str) -> CallPart:
        limits = tuple(max(self.min_time_limit, self.time_limit_factor * t) for t in problem.times[name])
        inputs = problem.inputs[name]

        def checker() -> _Checker:
            return _Checker(problem.entry_point, inputs, self._expected(problem.task_id)[name], problem.atol)

        return CallPart(
            name=name,
            count=len(inputs),
            frames=lambda: problem.frames[name],
            limits=limits,
            # EvalPlus kills the process running one list of inputs after this long.
            budget=min(defaults.PART_CAP, sum(limits)) + 2.0,
            checker=checker,
        )

    def _decode(self, task_id: str) -> Mapping[str, list[Any]]:
        problem = self.problems[task_id]
        if problem.expected is not None:
            return {part: [from_tree(tree) for tree in problem.expected[part]] for part in PARTS}
        with self._lock:  # two threads on one problem compute it once
            return self._stored(problem)

    def _stored(self, problem: PlusProblem) -> Mapping[str, list[Any]]:
        if not self.store.has(problem.key):
            # A worker on another machine: compute this problem's outputs here, once.
            source = Problem(
                task_id=problem.task_id,
                prompt=problem.source,
                test="",
                entry_point=problem.entry_point,
                canonical_solution="",
                extra={"base_input": problem.inputs["base"], "plus_input": problem.inputs["plus"]},
            )
            store = self.store if _writable(self.store.directory) else ExpectedStore(_scratch_store())
            store.ensure([source], key=problem.key)
            return store.outputs(problem.key)
        return self.store.outputs(problem.key)

    @property
    def longest(self) -> float:
        """The most seconds one sample may run (both parts at their budgets), for backstop timeouts."""
        return len(PARTS) * (defaults.PART_CAP + 2.0)

    def to_wire(self) -> str:
        """Compressed JSON: a worker rebuilds the same suite with :meth:`from_wire`."""
        data = {
            "problems": [problem.to_json() for problem in self.problems.values()],
            "store": str(self.store.directory),
            "min_time_limit": self.min_time_limit,
            "time_limit_factor": self.time_limit_factor,
        }
        return base64.b64encode(zlib.compress(json.dumps(data).encode(), 1)).decode()

    @classmethod
    def from_wire(cls, text: str) -> PlusSuite:
        data = json.loads(zlib.decompress(base64.b64decode(text)))
        problems = (PlusProblem.from_json(record) for record in data["problems"])
        return cls(
            problems={problem.task_id: problem for problem in problems},
            store=Path(data["store"]),
            min_time_limit=float(data["min_time_limit"]),
            time_limit_factor=float(data["time_limit_factor"]),
        )


def build_suite(
    problems: Sequence[Problem], store: Path, min_time_limit: float, time_limit_factor: float
) -> PlusSuite:
    """The suite for these problems (each with ``base_input``, ``plus_input`` and ``atol``), computing
    the expected outputs that the store lacks."""
    expected = ExpectedStore(store)
    keys = expected.ensure(problems)
    suite: dict[str, PlusProblem] = {}
    for problem in problems:
        key = keys[problem.task_id]
        small = expected.outputs_path(key).stat().st_size <= INLINE_BYTES
        suite[problem.task_id] = PlusProblem(
            task_id=problem.task_id,
            entry_point=problem.entry_point,
            atol=float(problem.extra.get("atol") or 0),
            key=key,
            source=problem.prompt + problem.canonical_solution,
            inputs={"base": problem.extra["base_input"], "plus": problem.extra["plus_input"]},
            times=expected.times(key),
            expected=_trees(expected.outputs(key)) if small else None,
        )
    return PlusSuite(suite, store, min_time_limit, time_limit_factor)


def _trees(outputs: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    return {part: [to_tree(value) for value in outputs[part]] for part in PARTS}


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


@functools.cache
def _scratch_store() -> Path:
    return Path(tempfile.mkdtemp(prefix="humaneval-expected-"))
