"""xdist across machines: two ``--tx ssh=`` workers through a real sshd on 127.0.0.1.

Each worker is a "remote host" (``tests/ssh_host.py``): the plugin is installed, but it has its own
home and working directory, no model client, settings of its own in its environment and ini file,
and it cannot open anything in the controller's directory, where the dataset file, the cache and the
report are. The model is a real HTTP server that only the controller can use. The run must give the
verdicts and pass@k of a local run, judged with the controller's settings, and a worker killed in the
middle of a sample must cost that sample only, reported as crashed. Without sshd the tests skip,
saying what is missing; on CI (where `CI` is set) they fail, as `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import ADD_PROBLEM, NEG_PROBLEM, read_report, write_jsonl
from .openai_server import FakeOpenAI
from .ssh_host import SshServer, kill_worker, remote_python, why_sshd_cannot_run

TIMEOUT = 180  # seconds a whole run may take before the test fails, not a performance bound

# Needs more memory than a remote host's own settings allow: it passes only under the controller's.
BIG_PROBLEM = {
    "task_id": "T/2",
    "prompt": "def big():\n",
    "canonical_solution": "    return len(bytearray(300 * 2**20))\n",
    "test": "def check(candidate):\n    assert candidate() == 300 * 2**20\n",
    "entry_point": "big",
}
# The slow answer makes the trusted test (which runs in the worker) leave a mark in the worker's home,
# then waits for its worker to be killed.
HANG_PROBLEM = {
    "task_id": "T/3",
    "prompt": "def hang(x):\n",
    "canonical_solution": "    return 'quick' if x == 0 else 1\n",
    "test": (
        "def check(candidate):\n"
        "    if candidate(0) == 'slow':\n"
        "        import os\n"
        "        open(os.path.join(os.environ['HUMANEVAL_TEST_HOME'], 'running'), 'w').close()\n"
        "    assert candidate(1) == 1\n"
    ),
    "entry_point": "hang",
}
SLOW = "    if x == 0:\n        return 'slow'\n    import time\n    time.sleep(600)\n    return 1\n"
WRONG = "    return None\n"
# A remote host's own settings, which its workers must not read: a 64 MiB limit fails BIG_PROBLEM.
HOST_SETTINGS = {"PYTEST_HUMANEVAL_MEMORY": "64MiB", "PYTEST_HUMANEVAL_TIMEOUT": "0.5"}
CONTROLLER_SETTINGS = ("--humaneval-memory=2GiB", "--humaneval-timeout=60")


def answers(problems: list[dict[str, Any]], slow: bool) -> dict[str, list[str]]:
    """Sample 0 of each problem is right, sample 1 wrong; with `slow`, sample 0 of HANG_PROBLEM hangs."""
    table = {p["prompt"]: [p["canonical_solution"], WRONG] for p in problems}
    if slow:
        table[HANG_PROBLEM["prompt"]][0] = SLOW
    return table


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    missing = why_sshd_cannot_run()
    if missing is not None:
        if os.environ.get("CI"):  # .ci/run installs it: on CI, a missing sshd is a failure
            pytest.fail(missing)
        pytest.skip(missing)
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def hosts(sshd: SshServer, root: Path, controller: Path) -> tuple[list[str], list[Path]]:
    """Two remote hosts: their --tx arguments and their homes."""
    args, homes = [], []
    for name in ("host1", "host2"):
        home = root / name
        args += ["--tx", sshd.tx(remote_python(home, name, controller, HOST_SETTINGS))]
        homes.append(home)
    return args, homes


def pytest_command(server: FakeOpenAI, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "--humaneval-model=openai:test-model",
        f"--humaneval-base-url={server.url}",
        "--humaneval-prompt-style=completion",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-n=2",
        "--humaneval-seed=0",
        "--humaneval-k=1,2",
        "--humaneval-cache-dir=cache",
        "--humaneval-report=report.json",
        "-p",
        "no:cacheprovider",
        *CONTROLLER_SETTINGS,
        *args,
    ]


def expected(problems: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    return {(p["task_id"], i): "passed" if i == 0 else "failed" for p in problems for i in (0, 1)}


def verdicts(report: dict[str, Any]) -> dict[tuple[str, int], str]:
    return {(s["task_id"], s["sample"]): s["outcome"] for s in report["samples"]}


def run_local(server: FakeOpenAI, controller: Path) -> dict[str, Any]:
    done = subprocess.run(
        pytest_command(server, "-p", "no:xdist"), cwd=controller, capture_output=True, timeout=TIMEOUT
    )
    assert done.returncode == 1, done.stdout.decode()[-3000:]
    report = read_report(controller / "report.json")
    (controller / "report.json").unlink()
    return report


def forbidden_attempts(homes: list[Path]) -> list[str]:
    """What the hosts' workers tried to open in the controller's directory, or to import."""
    logs = [home / "forbidden.log" for home in homes]
    return [line for log in logs if log.exists() for line in log.read_text().splitlines()]


def test_two_ssh_workers_judge_as_a_local_run_does(sshd: SshServer, tmp_path: Path) -> None:
    controller = tmp_path / "controller"
    controller.mkdir()
    problems = [ADD_PROBLEM, NEG_PROBLEM, BIG_PROBLEM]
    write_jsonl(controller / "problems.jsonl", problems)
    with FakeOpenAI(answers(problems, slow=False)) as server:
        local = run_local(server, controller)
        generated = server.total
        tx, homes = hosts(sshd, tmp_path, controller)
        done = subprocess.run(
            pytest_command(server, *tx, "--dist=load", "-v"),
            cwd=controller,
            capture_output=True,
            timeout=TIMEOUT,
        )
        output = done.stdout.decode()
        assert server.total == generated  # the cache the local run filled served the controller
    assert done.returncode == 1, output[-3000:]
    distributed = read_report(controller / "report.json")
    assert verdicts(distributed) == verdicts(local)
    assert verdicts(local) == expected(problems)
    assert distributed["pass_at_k"] == local["pass_at_k"] == {"1": 0.5, "2": 1.0}
    # Both hosts judged samples, and each item ran on a worker reached through ssh.
    workers = {line.split("]")[0].lstrip("[") for line in output.splitlines() if line.startswith("[gw")}
    assert workers == {"gw0", "gw1"}, output[-3000:]
    assert "ssh=" in output
    # No worker touched the controller's files, nor imported a model client.
    assert forbidden_attempts(homes) == []
    assert all((home / "pyexecnetcache").is_dir() for home in homes)


def test_a_killed_worker_costs_only_its_current_sample(sshd: SshServer, tmp_path: Path) -> None:
    controller = tmp_path / "controller"
    controller.mkdir()
    problems = [ADD_PROBLEM, NEG_PROBLEM, HANG_PROBLEM]
    write_jsonl(controller / "problems.jsonl", problems)
    with FakeOpenAI(answers(problems, slow=True)) as server:
        tx, homes = hosts(sshd, tmp_path, controller)
        process = subprocess.Popen(
            pytest_command(server, *tx, "--dist=load", "-v"),
            cwd=controller,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while not any((home / "running").exists() for home in homes):
                assert process.poll() is None and time.monotonic() < deadline, "the slow sample never ran"
                time.sleep(0.05)
            host = next(home for home in homes if (home / "running").exists())
            kill_worker(host.name)
            output, _ = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
    text = output.decode()
    assert process.returncode == 1, text[-3000:]
    report = read_report(controller / "report.json")
    assert verdicts(report) == {**expected(problems), ("T/3", 0): "crashed"}, text[-3000:]
    assert report["samples_run"] == report["samples_planned"] == 6
    text_tail = text[-3000:]
    assert "samples: 6 run: 2 passed, 3 failed, 0 error, 0 timeout, 1 crashed" in text, text_tail
    crashed = next(s for s in report["samples"] if (s["task_id"], s["sample"]) == ("T/3", 0))
    assert "crashed while running 'humaneval::T/3[0]'" in crashed["result"] + json.dumps(crashed)
    assert forbidden_attempts(homes) == []
