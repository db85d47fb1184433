"""What the fork server does once instead of once per sample, and that no sample can tell."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval.sandbox import Limits, Outcome, Program, Sandbox, forkserver, judge


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=3.0)) as box:
        yield box


def _server_cache() -> forkserver.Server:
    server = forkserver.Server.__new__(forkserver.Server)  # only its compile cache is used
    server._compiled = {}
    return server


def test_a_repeated_source_is_compiled_once() -> None:
    server = _server_cache()
    first = server._compile("def f():\n    return 1\n")
    assert server._compile("def f():\n    return 1\n") is first
    assert server._compile("def f():\n    return 2\n") is not first


def test_a_repeated_syntax_error_gets_the_same_answer() -> None:
    server = _server_cache()
    first = server._compile("def f(:\n")
    assert isinstance(first, dict)
    assert server._compile("def f(:\n") == first


def test_the_cache_keeps_the_latest_sources_only() -> None:
    server = _server_cache()
    sources = [f"x = {i}\n" for i in range(forkserver.COMPILED_KEPT + 5)]
    for source in sources:
        server._compile(source)
    assert list(server._compiled) == sources[-forkserver.COMPILED_KEPT :]
    server._compile(sources[-forkserver.COMPILED_KEPT])  # used again: now the most recent
    assert list(server._compiled)[-1] == sources[-forkserver.COMPILED_KEPT]
    huge = "x = 1\n" * forkserver.COMPILED_KEPT_SIZE
    server._compile(huge)
    assert huge not in server._compiled


def test_identical_samples_each_start_from_a_fresh_module(sandbox: Sandbox) -> None:
    program = Program(
        "seen = []\ndef f():\n    seen.append(1)\n    return len(seen)\n",
        "f",
        "def check(candidate):\n    assert candidate() == 1\n",
    )
    outcomes = [sandbox.run(program) for _ in range(3)]
    assert [o.kind for o in outcomes] == ["passed"] * 3


def test_a_repeated_source_that_does_not_compile_errs_each_time(sandbox: Sandbox) -> None:
    program = Program("def f(:\n", "f", "def check(candidate):\n    assert candidate() == 1\n")
    outcomes = [sandbox.run(program) for _ in range(2)]
    assert [(o.kind, o.error_type) for o in outcomes] == [("error", "SyntaxError")] * 2


def test_a_child_starts_without_threading(sandbox: Sandbox) -> None:
    # threading's fork handler would run in every child; the fork server never imports it.
    program = Program(
        "import sys\ndef f():\n"
        "    return sorted(m for m in ('threading', 'subprocess', 'random') if m in sys.modules)\n",
        "f",
        "def check(candidate):\n    assert candidate() == []\n",
    )
    outcome = sandbox.run(program)
    assert outcome.kind == "passed", outcome


def test_a_child_can_still_import_what_the_server_left_out(sandbox: Sandbox) -> None:
    program = Program(
        "import random, threading, ctypes.util\ndef f():\n    return random.Random(1).random() < 1\n",
        "f",
        "def check(candidate):\n    assert candidate() is True\n",
    )
    outcome = sandbox.run(program)
    assert outcome.kind == "passed", outcome


HOG = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
)


def _run_beside_hogs(tmp_path: Path, program: Program, timeout: float, hogs: int, seconds: float) -> Outcome:
    """`program` in a sandbox pinned to one CPU, once alone (it must pass) and once beside `hogs` busy
    processes, each in a session of its own as each sample is (the scheduler shares a CPU between
    sessions), for `seconds`: that run's outcome."""
    cpus = os.sched_getaffinity(0)
    one = {min(cpus)}
    os.sched_setaffinity(0, one)
    try:
        box = Sandbox(Limits(timeout=timeout))
        box.start()  # the fork server and its samples keep the one CPU
    finally:
        os.sched_setaffinity(0, cpus)
    script = tmp_path / "hog.py"
    script.write_text(HOG)
    with box:
        assert box.run(program).kind == "passed"  # unloaded, it passes in its limit
        running = [
            subprocess.Popen(
                [sys.executable, "-S", str(script), str(seconds)],
                start_new_session=True,
                preexec_fn=lambda: os.sched_setaffinity(0, one),
            )
            for _ in range(hogs)
        ]
        try:
            return box.run(program)
        finally:
            for hog in running:
                hog.kill()
                hog.wait()


def test_a_sample_held_up_by_a_loaded_machine_runs_again(tmp_path: Path) -> None:
    # A correct sample (0.2 s of work, limit 0.5 s, wall-clock cap 2 s) shares one CPU with 24 busy
    # processes for 2.6 s: it waits for the CPU far more than it runs and meets the cap with most of its
    # running time left. That run gives no verdict; the rerun, once the load is gone, passes. (Before
    # the rerun existed, this was a timeout.)
    program = Program(
        "def f():\n    return sum(i * i for i in range(2_400_000)) > 0\n",
        "f",
        "def check(candidate):\n    assert candidate() is True\n",
    )
    outcome = _run_beside_hogs(tmp_path, program, timeout=0.5, hogs=24, seconds=2.6)
    assert outcome.kind == "passed", outcome


WORK = "sum(i * i for i in range(2_400_000))"  # about 0.2 s here


@pytest.mark.parametrize(
    "body",
    [
        f"    import threading\n    t = threading.Thread(target=lambda: {WORK})\n"
        "    t.start()\n    t.join()\n",
        "    import subprocess, sys\n"
        f"    subprocess.run([sys.executable, '-S', '-c', {WORK!r}], check=True)\n",
    ],
    ids=["in a thread", "in a subprocess"],
)
def test_waits_for_a_cpu_in_threads_and_subprocesses_are_not_the_candidates(
    tmp_path: Path, body: str
) -> None:
    # The work is done while the main thread sleeps, by a thread or a child process, and the CPU is
    # shared with 8 busy sessions for 1.5 s: about 1.5 s of waiting, none of it the main thread's. Counted
    # as the candidate's, that is a timeout (limit 1 s) long before the 4 s wall-clock cap, which is what
    # the red team's "uses threads" and "starts a subprocess" met on a loaded CI machine.
    program = Program(
        f"def f():\n{body}    return True\n", "f", "def check(candidate):\n    assert candidate() is True\n"
    )
    outcome = _run_beside_hogs(tmp_path, program, timeout=1.0, hogs=8, seconds=1.5)
    assert outcome.kind == "passed", outcome


@pytest.mark.parametrize(
    ("body", "runs"),
    [
        ("    import threading\n    t = threading.Thread(target=threading.Event().wait)\n    t.start()\n"
         "    t.join()\n", [False, True]),
        ("    import threading\n    threading.Event().wait()\n", [False]),
    ],
    ids=["hangs in a thread", "hangs in its main thread"],
)  # fmt: skip
def test_a_timeout_whose_waits_were_estimated_runs_again(
    monkeypatch: pytest.MonkeyPatch, body: str, runs: list[bool]
) -> None:
    # A candidate that works in a thread and runs out of time may have lost it to waits cpu_wait could
    # only estimate: it runs once more, and the second run's timeout stands. One whose main thread did
    # everything was measured exactly: its first timeout is the verdict.
    seen: list[bool] = []
    real = judge.judge

    def spy(*args: Any, again: bool = False) -> Outcome | None:
        seen.append(again)
        return real(*args, again=again)

    monkeypatch.setattr(judge, "judge", spy)
    program = Program(
        f"def f():\n{body}    return True\n", "f", "def check(candidate):\n    assert candidate()\n"
    )
    with Sandbox(Limits(timeout=0.3)) as box:
        outcome = box.run(program)
    assert outcome.kind == "timeout", outcome
    assert seen == runs
