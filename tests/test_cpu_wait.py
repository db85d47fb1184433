"""How the sandbox tells which candidates work outside their main thread (sandbox/cpu_wait.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_humaneval.sandbox import cpu_wait

READY = "import sys\nsys.stdout.write('ready\\n'); sys.stdout.flush()\nsys.stdin.read()\n"


def _started(code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its descendants are killed with its group
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


@pytest.mark.parametrize(
    ("before", "alone"),
    [
        ("sum(range(10**6))\n", True),
        (
            "import threading\nt = threading.Thread(target=lambda: sum(range(10**7)))\nt.start(); t.join()\n",
            False,
        ),
        ("import threading\nthreading.Thread(target=sys.stdin.read, daemon=True).start()\n", False),
        ("import subprocess\nsubprocess.run([sys.executable, '-S', '-c', 'sum(range(10**7))'])\n", False),
        (
            "import subprocess\np = subprocess.Popen([sys.executable, '-S', '-c', 'input()'], stdin=-1)\n",
            False,
        ),
    ],
    ids=["only the main thread", "a thread that ended", "a live thread", "a reaped child", "a live child"],
)
def test_whether_anything_but_the_main_thread_ran(before: str, alone: bool) -> None:
    proc = _started("import sys\n" + before + READY)
    try:
        found = cpu_wait.tree(proc.pid)
        assert found is not None and found.alone is alone
    finally:
        proc.communicate("")


@pytest.mark.parametrize(
    "spawn",
    [
        "    if os.fork() == 0:\n        signal.pause()\n",
        "    threading.Thread(target=sys.stdin.read, daemon=True).start()\n",
    ],
    ids=["processes", "threads"],
)
def test_a_tree_too_large_to_walk_reads_as_none(spawn: str) -> None:
    many = f"import os, signal, sys, threading\nfor _ in range({cpu_wait.MAX_TREE}):\n{spawn}"
    proc = _started(many + READY)
    try:
        assert cpu_wait.tree(proc.pid) is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # with the paused children, which would outlive it
        proc.communicate("")


def test_a_lone_main_thread_is_charged_only_its_own_waits() -> None:
    # A sleeping process waits for no CPU, however busy the machine: nothing comes off its time.
    proc = _started(READY)
    try:
        first = cpu_wait.read(proc.pid)
        time.sleep(0.2)
        now = cpu_wait.read(proc.pid)
        assert now.at - first.at >= 0.2
        found = cpu_wait.tree(proc.pid)
        assert cpu_wait.waited(first, now, found) == max(0.0, now.own - first.own) < 0.05
    finally:
        proc.communicate("")


def test_a_process_that_is_gone_reads_as_nothing_waited() -> None:
    proc = subprocess.Popen([sys.executable, "-S", "-c", "pass"])
    proc.wait()
    assert cpu_wait.tree(proc.pid) is None
    assert cpu_wait.read(proc.pid).own == 0.0


def _reading(own: float, judge: float, machine: float, at: float) -> cpu_wait.Reading:
    return cpu_wait.Reading(own=own, judge=judge, machine=machine, at=at)


SINCE = _reading(1.0, 2.0, 100.0, 50.0)
NOW = _reading(1.1, 2.3, 105.0, 51.0)  # over 1 s: 0.1 s own waits, 0.3 s the judge's, 5 s of pressure


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # A lone main thread: its own waits and the judge's, not the machine's pressure.
        ("", 0.4),
        # Work in a thread: the pressure, up to the elapsed time less the CPU it used (small here).
        ("import threading\nthreading.Thread(target=sys.stdin.read, daemon=True).start()\n", 1.0),
    ],
    ids=["alone", "a live thread"],
)
def test_what_is_taken_off(code: str, expected: float) -> None:
    proc = _started("import sys\n" + code + READY)
    try:
        found = cpu_wait.tree(proc.pid)
        assert found is not None and found.cpu < 0.3
        taken = cpu_wait.waited(SINCE, NOW, found)
        assert taken == pytest.approx(min(expected, 1.0 - found.cpu))
    finally:
        proc.communicate("")


def test_a_tree_busy_for_the_whole_time_gets_only_its_main_threads_waits() -> None:
    # The parent sleeps; its two children (not reaped, so in none of its own figures) keep busy.
    busy = "import os\nfor _ in range(2):\n    if os.fork() == 0:\n        while True: pass\n"
    proc = _started("import sys\n" + busy + READY)
    try:
        deadline, found = time.monotonic() + 20, cpu_wait.tree(proc.pid)
        while found is not None and found.cpu < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
            found = cpu_wait.tree(proc.pid)
        assert found is not None and found.cpu >= 1.0
        # It used a CPU second within the second: the pressure it made is its own doing.
        assert cpu_wait.waited(SINCE, NOW, found) == pytest.approx(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate("")


def test_nothing_is_taken_off_before_the_pid_is_known() -> None:
    assert cpu_wait.read(None) is cpu_wait.START
    assert cpu_wait.tree(None) is None
    assert cpu_wait.waited(cpu_wait.START, NOW, cpu_wait.tree(os.getpid())) == 0.0
