"""The confinement layers that need no namespaces, on the real kernel, and what the run says of them.

Where a test needs namespaces refused it starts its process under ``tests/no_namespaces.py`` (as root:
CI runs as root); a seccomp filter cannot be lifted, so it never applies to this pytest process. Only
benign programs run here: the hostile ones are the red team's (tests/test_redteam.py).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval.sandbox import Isolation, landlock_rules, refusal, wire

from .helpers import ADD_PROBLEM, write_jsonl
from .test_redteam import LAUNCHER, UNPRIVILEGED_UID, _reachable

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the launcher that refuses namespaces starts as root")

NAMESPACES = {
    "user": True,
    "network": True,
    "pid": True,
    "filesystem": True,
    "no_new_privs": True,
    "seccomp": True,
}
WITHOUT = {
    "no_new_privs": True,
    "landlock": 7,
    "seccomp": True,
    "notes": ["user namespaces are not available"],
}


@pytest.mark.parametrize(
    ("report", "level", "missing"),
    [
        (NAMESPACES, "full", []),
        (WITHOUT, "full", []),
        ({**WITHOUT, "landlock": 4}, "partial", ["signals"]),  # no scoping before ABI 6
        ({**WITHOUT, "landlock": 4, "sandbox_user": True, "uid": 1900000000}, "full", []),
        ({**WITHOUT, "landlock": 0}, "partial", ["writes", "reads", "signals"]),
        ({**WITHOUT, "landlock": 0, "seccomp": False}, "none", ["network", "writes", "reads", "signals"]),
    ],
)
def test_the_guarantees_follow_from_the_layers(
    report: dict[str, Any], level: str, missing: list[str]
) -> None:
    found = Isolation.from_report(report)
    assert (found.level, found.missing()) == (level, missing)
    assert found.describe().startswith(f"isolation {level}: ")
    assert json.loads(json.dumps(found.to_json()))["enforced"] == found.enforced


def test_a_refusal_names_the_option_what_is_missing_and_why() -> None:
    found = Isolation.from_report({**WITHOUT, "landlock": 0})
    assert refusal(found, ("network",), "--opt") is None
    message = refusal(found, ("network", "writes"), "--opt")
    assert message is not None
    assert message.startswith("--opt requires no writes outside scratch, which this machine's sandbox")
    assert "user namespaces are not available" in message


def test_landlock_rules_go_around_a_hidden_path(tmp_path: Path) -> None:
    for name in ("a/data/tests.jsonl", "a/mod.py", "a/sub/x.py", "b/y.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    allowed = landlock_rules.without([str(tmp_path)], [str(tmp_path / "a" / "data")])
    assert allowed == [str(tmp_path / p) for p in ("a/mod.py", "a/sub", "b")]


def _python_readable_by_others() -> bool:
    """Whether an unprivileged uid can reach this Python without help (no closed directory above it)."""
    path = Path(os.path.realpath(sys.base_prefix))
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _launched(*launcher_args: str, script: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, LAUNCHER, *launcher_args, "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


TWO_SANDBOXES = """
import json
from pytest_humaneval.sandbox import Limits, Program, Sandbox
program = Program("def f(x):\\n    return x\\n", "f", "def check(c):\\n    assert c(1) == 1\\n")
with Sandbox(Limits(timeout=3)) as a, Sandbox(Limits(timeout=3)) as b:
    reports = [a.start(), b.start()]
    passed = [a.run(program).passed, b.run(program).passed]
print(json.dumps({"reports": reports, "passed": passed}))
"""


@as_root
@pytest.mark.parametrize("reachable", [True, False], ids=["python-readable", "python-as-it-is"])
def test_without_namespaces_as_root_each_layer_is_found_by_doing(tmp_path: Path, reachable: bool) -> None:
    args = _reachable() if reachable else []
    answer = _launched(*args, script=TWO_SANDBOXES, cwd=tmp_path)
    assert answer["passed"] == [True, True]
    first, second = answer["reports"]
    for report in (first, second):
        assert not any(report[layer] for layer in wire.NAMESPACES)
        assert report[wire.NO_NEW_PRIVS] and report[wire.SECCOMP]
        assert report[wire.LANDLOCK] == landlock_rules.abi()
    # A uid of its own only where the uid can read Python; then one per sandbox running at once.
    own_uid = reachable or _python_readable_by_others()
    assert [bool(r[wire.SANDBOX_USER]) for r in (first, second)] == [own_uid, own_uid], first
    if own_uid:
        assert first[wire.UID] != second[wire.UID]
    else:
        assert any("no uid per sandbox" in note and "cannot read" in note for note in first[wire.NOTES])


@as_root
def test_without_landlock_the_run_says_so_and_a_requirement_refuses_it(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "problems.jsonl", [ADD_PROBLEM])
    base = [sys.executable, LAUNCHER, "--no-landlock", *_reachable(), "--", sys.executable, "-m", "pytest"]
    base += ["-p", "no:cacheprovider", "--humaneval-model=canonical", "--humaneval-dataset=problems.jsonl"]

    def pytest_run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *extra], capture_output=True, text=True, timeout=300, cwd=tmp_path)

    allowed = pytest_run("--humaneval-report=r.json")
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    isolation = json.loads((tmp_path / "r.json").read_text())["isolation"]
    assert isolation["level"] == "partial"
    assert [name for name, held in isolation["enforced"].items() if not held] == ["writes", "reads"]
    assert any("no Landlock" in note for note in isolation["notes"])
    summary = allowed.stdout.split("humaneval ===")[-1]
    assert "isolation partial: uid" in summary and "not enforced: no writes outside scratch" in summary
    enough = pytest_run("--humaneval-require-isolation=network,signals")
    assert enough.returncode == 0, enough.stdout[-3000:]
    refused = pytest_run("--humaneval-require-isolation=all")
    assert refused.returncode == 4, refused.stdout[-3000:]
    assert "--humaneval-require-isolation requires no writes outside scratch, no reads" in refused.stderr
    assert "1 passed" not in refused.stdout  # nothing ran
    # A pool of sandboxes asks its first; xdist's controller, which runs none, starts one to ask.
    for parallel in (("-p", "no:xdist", "--humaneval-jobs=2"), ("-n", "2")):
        refused = pytest_run("--humaneval-require-isolation=reads", *parallel)
        assert refused.returncode == 4, refused.stdout[-3000:]
        assert "requires no reads of the user's files" in refused.stderr


@as_root
def test_an_ordinary_user_gets_landlock_and_seccomp_but_no_uid_of_its_own(tmp_path: Path) -> None:
    os.chown(tmp_path, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    answer = _launched("--uid", str(UNPRIVILEGED_UID), *_reachable(), script=TWO_SANDBOXES, cwd=tmp_path)
    assert answer["passed"] == [True, True]
    report = answer["reports"][0]
    assert not report[wire.SANDBOX_USER] and report[wire.SECCOMP]
    assert report[wire.LANDLOCK] == landlock_rules.abi()
    assert Isolation.from_report(report).level == ("full" if landlock_rules.abi() >= 6 else "partial")


def test_without_pyseccomp_the_filter_is_reported_missing_not_fatal() -> None:
    script = (
        "import sys; sys.modules['pyseccomp'] = None\n"
        "from pytest_humaneval.sandbox import seccomp_filter\n"
        "compiled, why = seccomp_filter.compile_filter(scope_signals=True)\n"
        "print(compiled, why)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("None no seccomp filter (pyseccomp is unavailable"), done.stderr


FILTERED = """
import ctypes, errno, json, os, socket, sys, threading
from pytest_humaneval.sandbox import confine, seccomp_filter
seccomp_filter.load_library()
compiled, why = seccomp_filter.compile_filter(scope_signals=False)
assert compiled is not None, why
libc = ctypes.CDLL(None, use_errno=True)
confine.set_no_new_privs()
seccomp_filter.install(compiled)
seen = {}
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
except OSError as exc:
    seen["inet"] = exc.errno
a, b = socket.socketpair()
a.close(); b.close()
seen["unshare"] = libc.unshare(0x10000000) and ctypes.get_errno()
seen["clone3"] = libc.syscall(435, None, 0) and ctypes.get_errno()
seen["io_uring_setup"] = libc.syscall(425, 1, None) and ctypes.get_errno()
seen["ptrace"] = libc.ptrace(16, os.getppid(), 0, 0) and ctypes.get_errno()
seen["tiocsti"] = libc.ioctl(0, 0x5412, b"x") and ctypes.get_errno()
seen["kill_everyone"] = libc.kill(-1, 0) and ctypes.get_errno()
seen["chmod"] = libc.chmod(sys.executable.encode(), 0o777) and ctypes.get_errno()
seen["fchmodat2"] = libc.syscall(452, -100, sys.executable.encode(), 0o777, 0) and ctypes.get_errno()
seen["chown"] = libc.chown(sys.executable.encode(), -1, -1) and ctypes.get_errno()
seen["fchown"] = libc.fchown(0, -1, -1) and ctypes.get_errno()
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
seen["fork"] = os.waitpid(pid, 0)[1] >> 8
print(json.dumps(seen), flush=True)
libc.syscall(0x40000000 | 39)  # getpid, as x32 calls it: the filter kills the process
print("x32 went through", flush=True)
"""


def test_the_seccomp_filter_refuses_what_it_lists_and_allows_what_samples_use() -> None:
    # stdin is /dev/null: were TIOCSTI let through, it would fail with ENOTTY and type nothing anywhere.
    done = subprocess.run(
        [sys.executable, "-c", FILTERED], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    seen = json.loads(lines[0])
    eperm, enosys = 1, 38
    assert seen == {
        "inet": eperm,
        "unshare": eperm,
        "clone3": enosys,
        "io_uring_setup": enosys,
        "ptrace": eperm,
        "tiocsti": eperm,
        "kill_everyone": eperm,  # compiled for a kernel whose Landlock cannot scope signals
        "chmod": eperm,
        "fchmodat2": eperm,
        "chown": eperm,  # a no-op chown would succeed: refused before the kernel looks
        "fchown": eperm,
        "fork": 7,
    }
    assert done.returncode == -31  # SIGSYS: a foreign architecture's call kills the process
