"""The benchmarks under bench/ still run against the package as it is (they are not run in full here:
their figures are wall-clock times, which no test asserts on)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_each_benchmark_starts(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_the_audit_hook_benchmark_builds_the_hook_as_the_fork_server_does() -> None:
    # Its program is a string run in a fresh interpreter, so no linter sees the sandbox API it uses.
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_sandbox.py"), "--hook"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures = re.fullmatch(
        r"audit hook: -?\d+ ns per audited event \((\d+) ns -> (\d+) ns per id\(\) call\); deepcopy of 20,000"
        r" small lists ([\d.]+) ms -> ([\d.]+) ms \([\d.]+x\)\n",
        done.stdout,
    )
    assert figures is not None, done.stdout
    assert all(float(value) > 0 for value in figures.groups())
