"""The fork server: a small, clean interpreter that runs each untrusted program in a fresh child.

This file runs as a script (``python -I _forkserver.py WORKDIR``), started by :mod:`.client`. It imports
only the standard library and nothing of pytest or of this package, so a forked child starts from a
pristine interpreter whatever the pytest process has loaded. Forking this process costs about a
millisecond, where starting a new interpreter per sample costs more than ten.

Protocol, over the server's stdin and stdout: frames of a 4-byte big-endian length and a payload.
A request is a JSON object ``{"program", "timeout", "memory", "output_limit", "nonce"}``. For each
request the server answers twice: the child's pid in decimal digits as soon as the child exists (so the
client can kill the child's process group should this server die; empty when the program did not
compile and no child was made), then the verdict, a JSON object ``{"outcome", "message", ...}``.

The timeout is enforced here, from outside the child: at the deadline the child's whole process group is
killed with SIGKILL, which no loop and no signal handler in the child can ignore. This process is a
child subreaper, so anything the sample started and orphaned is re-parented here and killed too.
Samples run in one scratch directory (their cwd and TMPDIR), emptied after each sample.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MAX_MESSAGE = 8 * 1024 * 1024  # bytes read back from a child at most; the rest is dropped
MAX_TEXT = 2000  # characters of an exception message kept
PROGRAM_NAME = "<humaneval>"


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the client's cleanup still applies
        return None


_PRCTL = _load_prctl()  # looked up once here: in each child it would cost a third of a millisecond


def _prctl(option: int, value: int) -> None:
    if _PRCTL is not None:
        _PRCTL(option, value, 0, 0, 0)


# ---------------------------------------------------------------------------- framing


def _read_exact(fd: int, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _recv(fd: int) -> dict[str, Any]:
    (size,) = struct.unpack(">I", _read_exact(fd, 4))
    message: dict[str, Any] = json.loads(_read_exact(fd, size))
    return message


def _send(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


# ---------------------------------------------------------------------------- the child


class _CappedText(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr: keeps the first `limit` characters, counts the rest."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._room = limit
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self._room > 0:
            self._parts.append(s[: self._room])
        kept = min(len(s), max(self._room, 0))
        self._room -= kept
        self.dropped += len(s) - kept
        return len(s)

    def getvalue(self) -> str:
        return "".join(self._parts)


def _safe_str(value: object) -> str:
    try:
        text = str(value)
    except BaseException:  # a hostile __str__ must not decide the verdict
        text = "<unprintable>"
    return text[:MAX_TEXT]


def _program_line(exc: BaseException) -> int | None:
    """Line number, in the program, of the innermost frame that belongs to the program."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _compile(program: str) -> tuple[Any, dict[str, Any] | None]:
    """Compile in the server, before forking: the same work in a fresh child costs ten times more,
    as every page the compiler touches must first be copied. Compiling runs none of the sample's code.
    """
    try:
        return compile(program, PROGRAM_NAME, "exec"), None
    except SyntaxError as exc:
        return None, {
            "outcome": "error",
            "type": type(exc).__name__,
            "message": _safe_str(exc.msg),
            "line": exc.lineno,
        }
    except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting or size
        return None, {"outcome": "error", "type": type(exc).__name__, "message": _safe_str(exc)}


def _execute(code: Any) -> dict[str, Any]:
    """Run compiled code in a fresh module namespace and classify how it ended."""
    # A module that is not __main__: `if __name__ == "__main__":` blocks stay off, as in the reference.
    module = type(sys)("__humaneval__")
    sys.modules["__humaneval__"] = module
    try:
        exec(code, module.__dict__)
    except AssertionError as exc:
        return {
            "outcome": "failed",
            "type": "AssertionError",
            "message": _safe_str(exc),
            "line": _program_line(exc),
        }
    except SystemExit as exc:
        return {
            "outcome": "crashed",
            "type": "SystemExit",
            "message": f"exited early with sys.exit({_safe_str(exc.code)}) before the check finished",
            "line": _program_line(exc),
        }
    except MemoryError as exc:
        return {
            "outcome": "crashed",
            "type": "MemoryError",
            "message": "out of memory (the memory limit was reached)",
            "line": _program_line(exc),
        }
    except BaseException as exc:
        return {
            "outcome": "error",
            "type": type(exc).__name__,
            "message": _safe_str(exc),
            "line": _program_line(exc),
        }
    return {"outcome": "passed"}


def _child(request: dict[str, Any], code: Any, result_fd: int, captured: _CappedText) -> None:
    """Body of the forked child. Never returns: it ends with os._exit.

    Everything that can be prepared before the fork is (the compiled code, the stdio stand-ins, the
    working directory and TMPDIR): in the child each object touched costs a page copy.
    """
    os.setsid()  # its own process group, so the server can kill everything it starts at once
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    memory = request.get("memory")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, 1 << 16)
    sys.stdout = sys.stderr = captured
    sys.stdin = _EMPTY_STDIN
    nonce = request["nonce"]
    result = _execute(code)
    # Threads the sample left running, atexit handlers and buffered I/O must not run after the
    # verdict: report, then leave at once with os._exit.
    try:
        result["stdout"] = captured.getvalue()
        result["stdout_dropped"] = captured.dropped
        result["nonce"] = nonce
        data = json.dumps(result).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(result_fd, view) :]
    except BaseException:
        os._exit(71)
    os._exit(0)


_EMPTY_STDIN = io.StringIO("")  # input() in a sample gets EOFError at once


# ---------------------------------------------------------------------------- the server


def _wait(pid: int, result_fd: int, deadline: float) -> tuple[bytes, int | None]:
    """Collect the child's message until it exits or the deadline passes. Status None: timed out."""
    chunks: list[bytes] = []
    size = 0
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    reading = True
    try:
        while True:
            if pidfd is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks), None
            watched = ([result_fd] if reading else []) + ([pidfd] if pidfd is not None else [])
            wait_for = remaining if pidfd is not None else min(remaining, 0.002)
            ready, _, _ = select.select(watched, [], [], wait_for)
            if result_fd in ready:
                chunk = os.read(result_fd, 65536)
                if not chunk:
                    reading = False
                elif size < MAX_MESSAGE:
                    chunks.append(chunk)
                    size += len(chunk)
            if pidfd is not None and pidfd in ready:
                _, status = os.waitpid(pid, 0)
                break
    finally:
        if pidfd is not None:
            os.close(pidfd)
    # The child has exited; what it wrote before exiting is still in the pipe.
    os.set_blocking(result_fd, False)
    while reading and size < MAX_MESSAGE:
        try:
            chunk = os.read(result_fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), status


def _children_of(ppid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            found.append(int(name))
    return found


def _kill_everything(pid: int) -> None:
    """Kill the sample, its process group and every process it left behind, and reap them all."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):  # kill(): it may not have called setsid yet
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    me = os.getpid()
    for _ in range(1000):
        try:
            while True:  # reap what is already dead; (0, 0) means some child still runs
                done, _ = os.waitpid(-1, os.WNOHANG)
                if done == 0:
                    break
        except ChildProcessError:
            return  # no children left at all: the common case, found without reading /proc
        alive = _children_of(me) if os.path.isdir("/proc") else []
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not alive:
            time.sleep(0.001)


def _verdict(message: bytes, status: int | None, request: dict[str, Any]) -> dict[str, Any]:
    if status is None:
        return {"outcome": "timeout", "message": f"did not finish within {request['timeout']:g} s"}
    result = None
    if message:
        try:
            result = json.loads(message)
        except ValueError:
            result = None
    exited_cleanly = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if exited_cleanly and isinstance(result, dict) and result.pop("nonce", None) == request["nonce"]:
        return result
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return {"outcome": "crashed", "message": f"killed by signal {name}"}
    code = os.WEXITSTATUS(status)
    return {"outcome": "crashed", "message": f"exited with status {code} before the check finished"}


def _clean_scratch(scratch: str) -> None:
    """Leave the shared scratch directory empty, and there, for the next sample."""
    try:
        leftovers = os.listdir(scratch)
    except FileNotFoundError:  # the sample removed it
        os.makedirs(scratch, exist_ok=True)
        leftovers = []
    for name in leftovers:
        path = os.path.join(scratch, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
    if leftovers:
        os.chmod(scratch, 0o700)
    os.chdir(scratch)  # the sample may have replaced it; children start here


def _run_one(request: dict[str, Any], out_fd: int, scratch: str) -> dict[str, Any]:
    start = time.monotonic()
    code, failure = _compile(request["program"])
    if failure is not None:
        _send_pid(out_fd, None)
        failure["duration"] = time.monotonic() - start
        return failure
    captured = _CappedText(int(request.get("output_limit", 65536)))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            _child(request, code, write_fd, captured)
        finally:
            os._exit(70)
    os.close(write_fd)
    _send_pid(out_fd, pid)
    try:
        message, status = _wait(pid, read_fd, start + float(request["timeout"]))
        duration = time.monotonic() - start
    finally:
        _kill_everything(pid)
        os.close(read_fd)
        _clean_scratch(scratch)
    verdict = _verdict(message, status, request)
    verdict["duration"] = duration
    return verdict


def _send_pid(fd: int, pid: int | None) -> None:
    """The first answer to a request: the child's pid as decimal digits, empty if none was forked."""
    data = b"" if pid is None else str(pid).encode()
    os.write(fd, struct.pack(">I", len(data)) + data)


def main() -> None:
    workdir = sys.argv[1]
    scratch = os.path.join(workdir, "scratch")
    os.mkdir(scratch, 0o700)
    os.chdir(scratch)
    os.environ["TMPDIR"] = scratch  # set here once: inherited by every child
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Keep the protocol off fds 0 and 1 so that no child can inherit or guess them.
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    while True:
        try:
            request = _recv(in_fd)
        except EOFError:
            break
        _send(out_fd, _run_one(request, out_fd, scratch))
    os.chdir("/")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
