"""The sandbox, called directly: real fork-server and child processes, no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pytest_humaneval import defaults
from pytest_humaneval.sandbox import GUARANTEES, Isolation, Limits, Outcome, Program, Sandbox
from pytest_humaneval.sandbox._plain import NotPlainData, decode, encode

RETURNS_ONE = "def check(candidate):\n    assert candidate() == 1\n"


def run(box: Sandbox, candidate: str, test: str = RETURNS_ONE, entry_point: str = "f") -> Outcome:
    return box.run(Program(candidate_source=candidate, entry_point=entry_point, test_source=test))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=1.0, memory=1024**3)) as box:
        yield box


def test_clean_run_passes(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f():\n    return 1\n")
    assert outcome.kind == "passed" and outcome.passed
    assert 0 < outcome.duration < 1.0


def test_failed_assertion_shows_the_tests_line(sandbox: Sandbox) -> None:
    test = "def check(candidate):\n    assert candidate() == 2, 'wrong'\n"
    outcome = run(sandbox, "def f():\n    return 1\n", test)
    assert (outcome.kind, outcome.where, outcome.line, outcome.source_line, outcome.message) == (
        "failed",
        "test",
        2,
        "assert candidate() == 2, 'wrong'",
        "wrong",
    )
    assert (
        outcome.describe() == "failed: AssertionError: wrong (test line 2: assert candidate() == 2, 'wrong')"
    )


def test_syntax_error_is_reported_from_the_candidate(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f(:\n    pass\n")
    assert (outcome.kind, outcome.error_type, outcome.where, outcome.line) == (
        "error",
        "SyntaxError",
        "candidate",
        1,
    )


def test_exception_in_the_candidate_shows_its_type_message_and_line(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f():\n    raise KeyError('k')\n")
    assert (outcome.kind, outcome.error_type, outcome.message, outcome.where, outcome.line) == (
        "error",
        "KeyError",
        "'k'",
        "candidate",
        2,
    )


def test_builtin_exceptions_cross_as_themselves(sandbox: Sandbox) -> None:
    test = (
        "def check(candidate):\n"
        "    try:\n        candidate()\n    except ZeroDivisionError as e:\n        assert 'zero' in str(e)\n"
        "    else:\n        raise AssertionError('no exception')\n"
    )
    assert run(sandbox, "def f():\n    return 1 / 0\n", test).passed


def test_infinite_loop_times_out(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f():\n    while True:\n        pass\n")
    assert outcome.kind == "timeout"
    assert outcome.message.startswith("did not finish within 1 s")


def test_a_loop_at_module_level_times_out(sandbox: Sandbox) -> None:
    assert run(sandbox, "while True:\n    pass\n").kind == "timeout"


def test_loop_that_ignores_signals_still_ends(sandbox: Sandbox) -> None:
    candidate = (
        "import signal\n"
        "for s in range(1, signal.NSIG):\n"
        "    try:\n        signal.signal(s, signal.SIG_IGN)\n"
        "    except (OSError, ValueError):\n        pass\n"
        "def f():\n    while True:\n        pass\n"
    )
    started = time.monotonic()
    assert run(sandbox, candidate).kind == "timeout"
    assert run(sandbox, "def f():\n    return 1\n").passed  # the sandbox is usable afterwards
    assert time.monotonic() - started < 30  # generous: it ended, it did not hang


@pytest.mark.parametrize(
    ("candidate", "kind", "message"),
    [
        ("import os\nos._exit(0)\n", "crashed", "the candidate's process exited with status 0"),
        (
            "def f():\n    import os\n    os._exit(0)\n",
            "crashed",
            "the candidate's process exited with status 0",
        ),
        ("import sys\nsys.exit(0)\n", "crashed", "exited early with sys.exit(0)"),
        ("def f():\n    exit()\n", "crashed", "exited early with sys.exit(None)"),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
            "crashed",
            "the candidate's process killed by signal SIGSEGV",
        ),
    ],
)
def test_early_exits_are_crashes_not_passes(
    sandbox: Sandbox, candidate: str, kind: str, message: str
) -> None:
    outcome = run(sandbox, candidate)
    assert (outcome.kind, outcome.message) == (kind, message)


def test_memory_limit(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f():\n    x = bytearray(4 * 1024**3)\n")
    assert (outcome.kind, outcome.error_type) == ("crashed", "MemoryError")


def test_samples_cannot_see_each_other(sandbox: Sandbox) -> None:
    assert run(
        sandbox,
        "import builtins, sys\nbuiltins.LEAK = 1\nsys.modules['os'].LEAK = 1\ndef f():\n    return 1\n",
    ).passed
    candidate = (
        "import builtins, os\n"
        "def f():\n    return int(hasattr(builtins, 'LEAK') or hasattr(os, 'LEAK')) + 1\n"
    )
    outcome = run(sandbox, candidate)
    assert outcome.passed, outcome.describe()  # it returns 2, and fails, if it sees the first one's state


def test_the_servers_namespace_holder_survives_a_sample_that_kills_everything(sandbox: Sandbox) -> None:
    candidate = (
        "import os, signal\n"
        "for target in (os.getppid(), -1, 0, 1):\n"
        "    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "def f():\n    return 1\n"
    )
    run(sandbox, candidate)  # its own outcome does not matter; the next sample's does
    assert run(sandbox, "def f():\n    return 1\n").passed


def test_output_is_captured_and_capped() -> None:
    with Sandbox(Limits(timeout=5.0, output_limit=100)) as box:
        candidate = (
            "import sys\ndef f():\n    print('x' * 10_000)\n    print('err', file=sys.stderr)\n    return 2\n"
        )
        outcome = run(box, candidate)
    assert outcome.kind == "failed"
    assert outcome.stdout == "x" * 100


def test_input_does_not_block(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "def f():\n    return input()\n")
    assert (outcome.kind, outcome.error_type) == ("error", "EOFError")


def test_files_written_by_a_sample_are_removed(sandbox: Sandbox) -> None:
    assert run(
        sandbox, "import os\nos.mkdir('d')\nopen('d/junk.txt', 'w').write('x')\ndef f():\n    return 1\n"
    ).passed
    assert run(sandbox, "import os\ndef f():\n    return len(os.listdir('.')) + 1\n").passed


def test_a_sample_that_removes_its_directory_does_not_break_the_next(sandbox: Sandbox) -> None:
    assert run(
        sandbox, "import os, shutil\nshutil.rmtree(os.getcwd(), ignore_errors=True)\ndef f():\n    return 1\n"
    ).passed
    candidate = "import tempfile\nopen('f.txt', 'w').write('x')\ntempfile.mkstemp()\ndef f():\n    return 1\n"
    outcome = run(sandbox, candidate)
    assert outcome.passed, outcome.describe()


def test_main_guard_does_not_run(sandbox: Sandbox) -> None:
    assert run(
        sandbox, "if __name__ == '__main__':\n    raise SystemExit(1)\ndef f():\n    return 1\n"
    ).passed


def test_the_test_may_use_the_prompts_helpers_and_the_entry_point_by_name(sandbox: Sandbox) -> None:
    test = "def double(x):\n    return 2 * x\ndef check(candidate):\n    assert f(3) == double(3)\n"
    assert run(sandbox, "def f(x):\n    return x + x\n", test).passed


def test_close_stops_the_server() -> None:
    box = Sandbox(Limits(timeout=1.0))
    run(box, "def f():\n    return 1\n")
    proc = box._proc
    assert proc is not None and proc.poll() is None
    box.close()
    assert proc.poll() is not None


def test_an_interrupted_run_does_not_leak_its_verdict_into_the_next() -> None:
    """pytest-timeout or Ctrl-C can raise inside run(); the next sample must get its own verdict."""

    class Interrupted(BaseException):  # as pytest-timeout's Failed and KeyboardInterrupt are
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with Sandbox(Limits(timeout=2.0)) as box:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(Interrupted):
                run(box, "import time\ndef f():\n    time.sleep(1)\n    return 1\n")
            outcome = run(box, "def f():\n    return 2\n")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert outcome.kind == "failed", outcome.describe()


def test_isolation_is_reported() -> None:
    with Sandbox(Limits(timeout=1.0)) as box:
        assert box.start() is box.isolation
        gaps = box.isolation_gaps()
        found = Isolation.from_report(box.isolation)
    # Each guarantee missing is named; none is named that holds.
    for name, words in GUARANTEES.items():
        assert (f"{words} is not enforced" in gaps) is (not found.enforced[name])


def test_isolation_gaps_is_a_query_that_starts_nothing() -> None:
    with Sandbox(Limits(timeout=1.0)) as box:
        with pytest.raises(RuntimeError, match="start"):
            box.isolation_gaps()
        assert box._proc is None
        run(box, "def f():\n    return 1\n")  # run() starts the server on demand, and so reports
        assert isinstance(box.isolation_gaps(), list)


def test_limits_default_to_the_shared_defaults() -> None:
    assert Limits() == Limits(
        timeout=defaults.TIMEOUT, memory=defaults.MEMORY, output_limit=defaults.OUTPUT_LIMIT
    )


# ---------------------------------------------------------------------------- plain data


@pytest.mark.parametrize(
    "value",
    ids=lambda v: type(v).__name__,
    argvalues=[
        None,
        True,
        0,
        -5,
        1 << 20000,
        1.5,
        -0.0,
        float("inf"),
        "s\ud800",
        b"\x00\xff",
        1 + 2j,
        [1, (2, 3)],
        (1,),
        {"a": [1], (1, 2): {3}},
        frozenset({1, 2}),
        set(),
        [[[]]],
    ],
)
def test_plain_values_round_trip_with_their_types(value: object) -> None:
    back = decode(encode(value))
    assert type(back) is type(value)
    assert back == value
    if isinstance(value, float):
        assert str(back) == str(value)  # -0.0 stays negative


def test_nan_round_trips() -> None:
    back = decode(encode(float("nan")))
    assert isinstance(back, float) and back != back


def test_subclasses_cross_as_their_plain_value() -> None:
    class Liar(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    back = decode(encode(Liar("no")))
    assert type(back) is str and back == "no" and back != "yes"


@pytest.mark.parametrize(
    "text", ['{"x": 1}', '{"l": 5}', '{"d": [[1]]}', '{"s": [{"l": []}]}', "[1]", "{", '{"i": "zz"}']
)
def test_malformed_data_is_refused(text: str) -> None:
    with pytest.raises(NotPlainData):
        decode(text)


def test_objects_do_not_cross() -> None:
    with pytest.raises(NotPlainData):
        encode(object())
    with pytest.raises(NotPlainData):
        decode("[" * 100_000 + "]" * 100_000)


def test_a_busy_machine_does_not_turn_a_correct_sample_into_a_timeout() -> None:
    """Three CPU hogs share one core with the sample: it gets about a quarter of it, so its 0.5 s of work
    takes about 2 s of wall-clock time, past the 1 s timeout; only its own running time counts."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs sched_setaffinity (Linux)")
    core = min(os.sched_getaffinity(0))
    previous = os.sched_getaffinity(0)
    hogs = []
    os.sched_setaffinity(0, {core})  # inherited by the fork server and its children
    try:
        for _ in range(3):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        work = (
            "import time\n"
            "def f():\n"
            "    end = time.process_time() + 0.5\n"
            "    while time.process_time() < end:\n        pass\n"
            "    return 1\n"
        )
        with Sandbox(Limits(timeout=1.0)) as box:
            outcome = run(box, work)
            hog = run(box, "def f():\n    while True:\n        pass\n")
    finally:
        for proc in hogs:
            proc.kill()
            proc.wait()
        os.sched_setaffinity(0, previous)
    assert outcome.passed, outcome.describe()
    assert hog.kind == "timeout"  # and a sample that really runs too long still times out
