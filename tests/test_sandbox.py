"""The sandbox, called directly: real fork-server and child processes, no mocks."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_humaneval.sandbox import Limits, Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=1.0, memory=1024**3)) as box:
        yield box


def test_clean_run_passes(sandbox: Sandbox) -> None:
    outcome = sandbox.run("def f():\n    return 1\nassert f() == 1\n")
    assert outcome.kind == "passed" and outcome.passed
    assert 0 < outcome.duration < 1.0


def test_failed_assertion_shows_the_failing_line(sandbox: Sandbox) -> None:
    outcome = sandbox.run("x = 1\nassert x == 1\nassert x == 2, 'x is wrong'\n")
    assert outcome.kind == "failed" and not outcome.passed
    assert (outcome.line, outcome.source_line, outcome.message) == (
        3,
        "assert x == 2, 'x is wrong'",
        "x is wrong",
    )
    assert outcome.describe() == "failed: AssertionError: x is wrong (line 3: assert x == 2, 'x is wrong')"


def test_syntax_error(sandbox: Sandbox) -> None:
    outcome = sandbox.run("def f(:\n    pass\n")
    assert (outcome.kind, outcome.error_type, outcome.line) == ("error", "SyntaxError", 1)


def test_exception_shows_type_and_message(sandbox: Sandbox) -> None:
    outcome = sandbox.run("def f():\n    raise KeyError('k')\nf()\n")
    assert (outcome.kind, outcome.error_type, outcome.message, outcome.line) == (
        "error",
        "KeyError",
        "'k'",
        2,
    )


def test_infinite_loop_times_out(sandbox: Sandbox) -> None:
    outcome = sandbox.run("while True:\n    pass\n")
    assert outcome.kind == "timeout"
    assert outcome.message == "did not finish within 1 s"


def test_loop_that_ignores_signals_still_ends(sandbox: Sandbox) -> None:
    program = (
        "import signal\n"
        "for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "while True:\n    pass\n"
    )
    started = time.monotonic()
    assert sandbox.run(program).kind == "timeout"
    assert sandbox.run("assert True\n").kind == "passed"  # the sandbox is usable afterwards
    assert time.monotonic() - started < 30  # generous: it ended, it did not hang


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("import os\nos._exit(0)\nassert False\n", "exited with status 0 before the check finished"),
        ("import os\nos._exit(3)\n", "exited with status 3 before the check finished"),
        (
            "import sys\nsys.exit(0)\nassert False\n",
            "exited early with sys.exit(0) before the check finished",
        ),
        ("exit()\n", "exited early with sys.exit(None) before the check finished"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "killed by signal SIGSEGV"),
    ],
)
def test_early_exits_are_crashes_not_passes(sandbox: Sandbox, program: str, message: str) -> None:
    outcome = sandbox.run(program)
    assert outcome.kind == "crashed" and not outcome.passed
    assert outcome.message == message


def test_memory_limit(sandbox: Sandbox) -> None:
    outcome = sandbox.run("x = bytearray(4 * 1024**3)\n")
    assert outcome.kind == "crashed"
    assert outcome.error_type == "MemoryError"


def test_samples_cannot_see_each_other(sandbox: Sandbox) -> None:
    assert sandbox.run("import builtins, sys\nbuiltins.LEAK = 1\nsys.modules['os'].LEAK = 1\n").passed
    outcome = sandbox.run(
        "import builtins, os\nassert not hasattr(builtins, 'LEAK')\nassert not hasattr(os, 'LEAK')\n"
    )
    assert outcome.kind == "passed"


def test_processes_the_sample_started_are_gone(sandbox: Sandbox, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    program = (
        "import os, time\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"  # escape the process group
        "        if os.fork() == 0:\n"
        f"            open({str(pidfile)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "            time.sleep(1000)\n"
        "        os._exit(0)\n"
        "time.sleep(0.3)\n"
    )
    assert sandbox.run(program).kind == "passed"
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived its sample"


def test_a_sample_that_kills_the_server_is_a_crash_and_the_next_one_runs(sandbox: Sandbox) -> None:
    outcome = sandbox.run("import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(60)\n")
    assert outcome.kind == "crashed"
    assert "fork server died" in outcome.message
    assert sandbox.run("assert 1 + 1 == 2\n").passed


def test_forged_verdict_on_the_result_pipe_is_not_a_pass(sandbox: Sandbox) -> None:
    program = (
        "import os, json\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        os.write(fd, json.dumps({'outcome': 'passed'}).encode())\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    )
    assert not sandbox.run(program).passed


def test_output_is_captured_and_capped(tmp_path: Path) -> None:
    with Sandbox(Limits(timeout=5.0, output_limit=100)) as box:
        outcome = box.run("print('x' * 10_000)\nimport sys\nprint('err', file=sys.stderr)\nassert False\n")
    assert outcome.kind == "failed"
    assert outcome.stdout == "x" * 100


def test_input_does_not_block(sandbox: Sandbox) -> None:
    outcome = sandbox.run("input()\n")
    assert (outcome.kind, outcome.error_type) == ("error", "EOFError")


def test_files_written_by_a_sample_are_removed(sandbox: Sandbox) -> None:
    outcome = sandbox.run(
        "import os\nos.mkdir('d')\nopen('d/junk.txt', 'w').write('x')\nprint(os.getcwd())\n"
    )
    assert outcome.passed
    scratch = outcome.stdout.strip()
    assert os.listdir(scratch) == []
    second = sandbox.run("import os\nassert os.listdir('.') == [], os.listdir('.')\n")
    assert second.passed, second.describe()


def test_a_sample_that_removes_its_directory_does_not_break_the_next(sandbox: Sandbox) -> None:
    assert sandbox.run("import os, shutil\nshutil.rmtree(os.getcwd())\n").passed
    outcome = sandbox.run("import tempfile\nopen('f.txt', 'w').write('x')\ntempfile.mkstemp()\n")
    assert outcome.passed, outcome.describe()


def test_main_guard_does_not_run(sandbox: Sandbox) -> None:
    assert sandbox.run("if __name__ == '__main__':\n    raise SystemExit(1)\n").passed


def test_close_stops_the_server() -> None:
    box = Sandbox(Limits(timeout=1.0))
    box.run("pass\n")
    proc = box._proc
    assert proc is not None and proc.poll() is None
    box.close()
    assert proc.poll() is not None


def test_an_interrupted_run_does_not_leak_its_verdict_into_the_next() -> None:
    """pytest-timeout or Ctrl-C can raise inside run(); the next sample must get its own verdict."""

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with Sandbox(Limits(timeout=2.0)) as box:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(Interrupted):
                box.run("import time\ntime.sleep(1)\n")
            outcome = box.run("assert 1 == 2\n")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert outcome.kind == "failed", outcome.describe()
