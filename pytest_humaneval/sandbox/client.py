"""The caller's side of the sandbox: owns one fork server and runs programs through it, one at a time."""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from .outcome import OUTCOME_KINDS, Outcome, OutcomeKind

SERVER_SCRIPT = Path(__file__).with_name("_forkserver.py")
# How long past its own deadline the server may take to kill, reap and answer before we give up on it.
SERVER_GRACE = 5.0


@dataclass(frozen=True)
class Limits:
    """Resource limits for one program."""

    timeout: float = 3.0
    memory: int | None = 4 * 1024**3  # bytes of address space; None: no limit
    output_limit: int = 64 * 1024  # characters of stdout/stderr kept for the report


class SandboxServerLost(Exception):
    """The fork server died or stopped answering."""


class Sandbox:
    """Runs untrusted programs in children of a private fork server.

    The server is started on first use and restarted after any sample kills it. Use as a context
    manager or call :meth:`close`; the server also dies with this process.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self._buffer = bytearray()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, program: str) -> Outcome:
        """Run `program` in a fresh child process and return how it ended."""
        request = {
            "program": program,
            "timeout": self.limits.timeout,
            "memory": self.limits.memory,
            "output_limit": self.limits.output_limit,
            "nonce": secrets.token_hex(16),
        }
        start = time.monotonic()
        deadline = start + self.limits.timeout + SERVER_GRACE
        pid: int | None = None
        try:
            self._send(request)
            started = self._recv_frame(deadline)  # the child's pid; empty: the program did not compile
            pid = int(started) if started else None
            reply: dict[str, Any] = json.loads(self._recv_frame(deadline))
        except SandboxServerLost as lost:
            self._discard_server(pid)
            kind: OutcomeKind = "timeout" if time.monotonic() >= deadline else "crashed"
            return Outcome(kind=kind, message=str(lost), duration=time.monotonic() - start)
        except BaseException:
            # Interrupted mid-request (pytest-timeout, Ctrl-C): the server still owes an answer, which
            # the next run would read as its own. Only a fresh server can be trusted.
            self._discard_server(pid)
            raise
        return _outcome_from_reply(reply, program)

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # the server finishes its loop on EOF
                proc.wait(timeout=SERVER_GRACE)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # ------------------------------------------------------------------ server plumbing

    def _server(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._discard_server(None)
            self._workdir = tempfile.mkdtemp(prefix="humaneval-sandbox-")
            self._buffer.clear()
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(SERVER_SCRIPT), self._workdir],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # Ctrl-C at the terminal is for pytest, not for samples
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
        return self._proc

    def _discard_server(self, sample_pid: int | None) -> None:
        """Kill a server we no longer trust, and the sample it was running."""
        if sample_pid is not None:
            for kill in (os.killpg, os.kill):
                try:
                    kill(sample_pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        for _attempt in range(2):
            proc = self._server()
            assert proc.stdin is not None
            try:
                proc.stdin.write(struct.pack(">I", len(data)) + data)
                proc.stdin.flush()
                return
            except (BrokenPipeError, OSError):
                # The previous sample killed the server after answering: start a new one, once.
                self._discard_server(None)
        raise SandboxServerLost("could not start the sandbox's fork server")

    def _recv_frame(self, deadline: float) -> bytes:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise SandboxServerLost("the sandbox's fork server is gone")
        fd = proc.stdout.fileno()
        while True:
            if len(self._buffer) >= 4:
                (size,) = struct.unpack(">I", self._buffer[:4])
                if len(self._buffer) >= 4 + size:
                    payload = bytes(self._buffer[4 : 4 + size])
                    del self._buffer[: 4 + size]
                    return payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxServerLost("the sandbox's fork server stopped answering")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    status = proc.wait()
                    raise SandboxServerLost(
                        f"the sandbox's fork server died (status {status}) while running this sample;"
                        " the sample most likely killed it"
                    )
                self._buffer += chunk


def _outcome_from_reply(reply: dict[str, Any], program: str) -> Outcome:
    line = reply.get("line")
    source_line = ""
    if isinstance(line, int) and line > 0:
        lines = program.splitlines()
        if line <= len(lines):
            source_line = lines[line - 1].strip()
    kind = reply.get("outcome")
    return Outcome(
        kind=cast(OutcomeKind, kind) if kind in OUTCOME_KINDS else "crashed",
        message=str(reply.get("message", "")),
        error_type=str(reply.get("type", "")),
        line=line if isinstance(line, int) else None,
        source_line=source_line,
        stdout=str(reply.get("stdout", "")),
        duration=float(reply.get("duration", 0.0)),
    )
