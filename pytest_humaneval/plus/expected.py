"""Expected outputs: the canonical solution run on every input, timed per input, once per problem.

The canonical solutions run in a child process (:mod:`._reference`), never in the pytest process: they
are the dataset's own code, but a broken problem file must not hang or crash the run. Results are cached
in the data directory, one file per problem, named by a fingerprint of everything that decides them
(the code, the entry point, the inputs), so the work, and the reference times the time limits derive
from, is done once per machine. HumanEval+'s expected outputs take hundreds of megabytes (strings and
lists of millions of items), so a problem's file is read only when its first sample is judged. They
are stored as pickles, which load ten times faster than JSON; the loader accepts nothing but builtin
data (no class, no function: see :class:`_PlainUnpickler`), so a tampered file cannot run code here.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..dataset import Problem
from ..errors import HumanEvalInputError

REFERENCE_SCRIPT = Path(__file__).with_name("_reference.py")
SANDBOX_DIR = Path(__file__).parent.parent / "sandbox"  # where the script finds _plain
FORMAT = 1  # bump when the cached layout or the way outputs are computed changes
REFERENCE_TIMEOUT = 900.0  # seconds the canonical solutions may take on every input together
REFERENCE_JOBS = 2  # child processes computing expected outputs at once
PARTS = ("base", "plus")


def fingerprint(problem: Problem) -> str:
    """sha256 over what decides a problem's expected outputs: its code, entry point and inputs."""
    record = [
        FORMAT,
        problem.prompt,
        problem.canonical_solution,
        problem.entry_point,
        problem.extra.get("base_input"),
        problem.extra.get("plus_input"),
    ]
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


class _PlainUnpickler(pickle.Unpickler):
    """Loads builtin data only: every global a pickle names is refused but `complex`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "complex"):
            return complex
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


class ExpectedStore:
    """The cache directory of expected outputs: ``KEY.pickle`` (outputs) and ``KEY.times.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def outputs_path(self, key: str) -> Path:
        return self.directory / f"{key}.pickle"

    def times_path(self, key: str) -> Path:
        return self.directory / f"{key}.times.json"

    def has(self, key: str) -> bool:
        return self.outputs_path(key).is_file() and self.times_path(key).is_file()

    def times(self, key: str) -> dict[str, list[float]]:
        """part -> the canonical solution's seconds per input."""
        data: dict[str, list[float]] = json.loads(self.times_path(key).read_text(encoding="utf-8"))
        return data

    def outputs(self, key: str) -> dict[str, list[Any]]:
        """part -> expected outputs, plain data."""
        with self.outputs_path(key).open("rb") as f:
            data: dict[str, list[Any]] = _PlainUnpickler(f).load()
        return data

    def ensure(self, problems: Sequence[Problem], key: str | None = None) -> dict[str, str]:
        """Compute what is missing; task id -> key for every problem (`key`: the one problem's, known)."""
        keys = {problem.task_id: key or fingerprint(problem) for problem in problems}
        missing = [problem for problem in problems if not self.has(keys[problem.task_id])]
        if missing:
            self.directory.mkdir(parents=True, exist_ok=True)
            compute(missing, lambda task_id, pickled, times: self._write(keys[task_id], pickled, times))
        return keys

    def _write(self, key: str, pickled: Path, record: dict[str, Any]) -> None:
        suffix = f".{os.getpid()}.tmp"
        partial = self.outputs_path(key).with_name(self.outputs_path(key).name + suffix)
        shutil.move(pickled, partial)
        partial.replace(self.outputs_path(key))
        times = self.times_path(key)
        partial = times.with_name(times.name + suffix)
        partial.write_text(json.dumps({part: record[f"{part}_time"] for part in PARTS}), encoding="utf-8")
        partial.replace(times)


def compute(problems: Sequence[Problem], sink: Callable[[str, Path, dict[str, Any]], None]) -> None:
    """Run every canonical solution on its inputs in child processes; `sink(task_id, pickle, times)`
    takes each problem's outputs (a pickle file to move) and times as they come.

    The problems are dealt round-robin to REFERENCE_JOBS children (at most one per CPU), each timing
    its calls on a core of its own.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    jobs = max(1, min(REFERENCE_JOBS, cpus, len(problems)))
    if jobs == 1:
        _compute(problems, sink)
        return
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="humaneval-reference") as pool:
        futures = [pool.submit(_compute, problems[i::jobs], sink) for i in range(jobs)]
        for future in futures:
            future.result()  # the first failure, named by its problem


def _compute(problems: Sequence[Problem], sink: Callable[[str, Path, dict[str, Any]], None]) -> None:
    job = [
        [
            p.task_id,
            p.prompt + p.canonical_solution,
            p.entry_point,
            p.extra["base_input"],
            p.extra["plus_input"],
        ]
        for p in problems
    ]
    wanted = {p.task_id for p in problems}
    index = {p.task_id: i for i, p in enumerate(problems)}
    with tempfile.TemporaryDirectory(prefix="humaneval-reference-") as scratch:
        child = subprocess.Popen(
            [sys.executable, "-I", str(REFERENCE_SCRIPT), str(SANDBOX_DIR), scratch],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=scratch,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "HOME": scratch},
        )
        timer = threading.Timer(REFERENCE_TIMEOUT, child.kill)
        timer.start()
        try:
            assert child.stdin is not None and child.stdout is not None and child.stderr is not None
            child.stdin.write(json.dumps(job).encode())  # read whole before the child writes anything
            child.stdin.close()
            for line in child.stdout:
                record = json.loads(line)
                task_id = record.pop("task_id")
                if "error" in record:
                    raise HumanEvalInputError(
                        f"{task_id}: the canonical solution fails on its own inputs: {record['error']}"
                    )
                sink(task_id, Path(scratch) / f"{index[task_id]}.pickle", record)
                wanted.discard(task_id)
            stderr = child.stderr.read().decode("utf-8", "replace")
        finally:
            timer.cancel()
            child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
    if wanted:
        first = next(p.task_id for p in problems if p.task_id in wanted)
        why = stderr.strip().splitlines()[-1:] or [f"killed after {REFERENCE_TIMEOUT:g} s"]
        raise HumanEvalInputError(
            f"computing the expected outputs stopped at {first} ({why[0]}); "
            "the problem set's canonical solutions could not run on their inputs"
        )
