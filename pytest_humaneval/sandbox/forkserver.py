"""The fork server: a small, clean interpreter that hosts each untrusted candidate in a fresh child.

This file runs as a script (``python -I forkserver.py CONFIG``), started by :mod:`.client`, with its
control socket on the fd that CONFIG names. It imports only the standard library and its three stdlib-only
companions in this directory (:mod:`.wire`, :mod:`.confine`, :mod:`._plain`), as top-level modules and
while their files are still visible, nothing of pytest or of this package: a forked child starts from a
pristine interpreter whatever the pytest process loaded.

**What runs here is only the candidate**: the prompt plus the model's completion, as a module. The
dataset's test never enters this process or its children; the trusted side runs it and calls the
candidate's entry point across a socket, arguments and return values as plain data (see ``_plain``).

Isolation, set up once at start when the kernel allows it (see :mod:`.confine`; each part is reported
back to the client, which warns when one is missing):

* a new user namespace, in which samples run as an unprivileged user (``nobody`` when we start as root)
  with no capabilities and ``no_new_privs``;
* a new network namespace with no interface up: no connection can leave the sample;
* a new PID namespace whose init is this server, so a sample cannot name, signal or trace any process
  outside it, cannot kill the server (init ignores signals from its own namespace), and everything it
  starts is killed with ``kill(-1)`` after the sample;
* a new mount namespace whose root is a tmpfs holding read-only bind mounts of only what Python needs
  (its prefixes and ``sys.path``, the system's shared libraries, a few device nodes), with the paths the
  client names hidden (the dataset's tests), a fresh ``/proc`` and a size-capped tmpfs ``/tmp`` that is
  each sample's scratch directory and working directory, emptied after each sample;
* IPC and UTS namespaces.

The protocol with the client is :mod:`.wire`'s: the isolation report first; then per request the server
compiles the source and answers that it did not compile, or forks the child and hands the client one end
of a fresh socket pair, over which the client talks to the child directly. When the client is done it
sends finish; the server kills everything the sample started, empties the scratch directory and answers
how the child ended.
"""

from __future__ import annotations

import array
import base64
import gc
import io
import json
import os
import select
import shutil
import signal
import socket
import sys
import traceback
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING or __package__:  # imported as a module of the package (type checkers, tests)
    from . import _plain, confine, wire
else:
    # Run as a script, under -I, which may leave this directory off the path. The companions are
    # imported now, while their files are visible: pivot_root hides the checkout, and children find
    # them already loaded.
    sys.path.insert(0, HERE)
    import _plain
    import confine
    import wire


def _send(fd: int, message: dict[str, Any]) -> None:
    wire.write_all(fd, wire.frame(message))


# ---------------------------------------------------------------------------- the child


class _CappedText(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr: keeps the first `limit` characters, counts the rest."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._room = limit
        self._sent = 0
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

    def take(self) -> str:
        """What was written since the last call."""
        text = "".join(self._parts)
        self._parts = [text]
        new, self._sent = text[self._sent :], len(text)
        return new


def _safe_str(value: object) -> str:
    try:
        text = str(value)
    except BaseException:  # a hostile __str__ must not break the report
        text = "<unprintable>"
    return text[: wire.MAX_TEXT]


def _candidate_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == wire.CANDIDATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> dict[str, Any]:
    try:
        name = type(exc).__name__
        builtin = type(exc).__module__ == "builtins"
    except BaseException:
        name, builtin = "BaseException", False
    return wire.exception(_safe_str(name), builtin, _safe_str(exc), _candidate_line(exc))


def _child(
    request: dict[str, Any], code: Any, sock: socket.socket, captured: _CappedText, server: Server
) -> None:
    """Body of the forked child. Never returns: it ends with os._exit."""
    fd = sock.fileno()
    timeout = float(request[wire.TIMEOUT])
    confine.confine_sample(
        uid=server.sandbox_uid,
        gid=server.sandbox_gid,
        pid_namespace=server.pid_namespace,
        # The trusted side's clock decides a timeout; this is a backstop behind its wall-clock cap.
        cpu_seconds=max(1, int(timeout * wire.WALL_FACTOR) + 1),
        memory=request.get(wire.MEMORY),
    )
    os.closerange(3, fd)
    os.closerange(fd + 1, 1 << 16)
    sys.stdout = sys.stderr = captured
    sys.stdin = _EMPTY_STDIN
    sys.argv = ["candidate"]
    sys.modules["__candidate__"] = module = type(sys)("__candidate__")
    entry_point = request[wire.ENTRY_POINT]
    try:
        wire.write_all(fd, wire.HELLO_FRAME)  # the client learns our pid from this message's credentials
        try:
            exec(code, module.__dict__)
            function = module.__dict__[entry_point]
        except KeyError:
            missing = wire.exception("NameError", True, f"name {entry_point!r} is not defined", None)
            _send(fd, wire.error(missing))
            os._exit(0)
        except BaseException as exc:
            _send(fd, wire.error(_describe(exc), captured.take()))
            os._exit(0)
        out = captured.take()
        wire.write_all(fd, wire.frame(wire.ready(out)) if out else wire.READY_FRAME)
        _serve_calls(fd, function, captured)
    except BaseException:
        os._exit(71)
    os._exit(0)


def _serve_calls(fd: int, function: Any, captured: _CappedText) -> None:
    """Answer the trusted side's calls until it hangs up."""
    frames = wire.Frames()
    while True:
        try:
            request = frames.read(fd)
        except (EOFError, wire.FrameTooLarge):
            return
        if wire.BATCH in request:
            _serve_batch(fd, function, captured, request[wire.BATCH])
            continue
        try:
            args = _plain.from_tree(request[wire.ARGS])
            kwargs = _plain.from_tree(request[wire.KWARGS])
            reply = wire.returned(_plain.to_tree(function(*args, **kwargs)), captured.take())
        except BaseException as exc:
            reply = wire.raised(_describe(exc), captured.take())
        _send(fd, reply)


# Types whose values cross as themselves; anything else that crosses is converted (see _plain).
_NATIVE = frozenset({type(None), bool, int, float, str, bytes, complex, list, tuple, dict, set, frozenset})


_PACK_FROM = 4096  # items from which a sequence of numbers travels packed
_EXACT_IN_FLOAT = 2**53  # ints up to this size are exact as float64


def _packed(value: Any) -> dict[str, Any] | None:
    """A long list or tuple of ints, floats and bools as float64s, when each is exact as one; else None.

    Equality and closeness with the expected output do not change (an int and the float equal to it
    compare equal), and a million numbers cross in milliseconds instead of a second.
    """
    kind = type(value)
    if (kind is not list and kind is not tuple) or len(value) < _PACK_FROM:
        return None
    kinds = set(map(type, value))
    if not kinds <= {int, float, bool}:
        return None
    # Ints beyond 2**53 would round (and so might floats be compared that are not exactly ints): refused.
    if kinds != {float} and not (min(value) >= -_EXACT_IN_FLOAT and max(value) <= _EXACT_IN_FLOAT):
        return None
    packed = base64.b64encode(array.array("d", value).tobytes()).decode("ascii")
    return {wire.PACKED: packed, wire.SEQUENCE: "l" if kind is list else "t"}


def _serve_batch(fd: int, function: Any, captured: _CappedText, calls: Any) -> None:
    """Answer each call of a batch as soon as it returns: the trusted side judges while we run on."""
    for args in calls if isinstance(calls, list) else ():
        try:
            value = function(*_plain.from_tree(args))
            reply = _packed(value)
            if reply is None:
                reply = wire.returned(_plain.to_tree(value), captured.take())
            else:
                reply[wire.OUT] = captured.take()
            if type(value) not in _NATIVE:
                reply[wire.FOREIGN] = True
        except BaseException as exc:
            reply = wire.raised(_describe(exc), captured.take())
        _send(fd, reply)


_EMPTY_STDIN = io.StringIO("")  # input() in a sample gets EOFError at once


# ---------------------------------------------------------------------------- the server


class Server:
    def __init__(self, config: dict[str, Any], control: int, isolation: dict[str, Any]) -> None:
        self.control = control
        self.control_socket = socket.socket(fileno=os.dup(control))
        self.frames = wire.Frames()
        self.isolation = isolation
        self.pid_namespace = bool(isolation.get(wire.PID))
        self.sandbox_uid: int | None = isolation.get(wire.UID)
        self.sandbox_gid: int | None = isolation.get(wire.GID)
        # The sample's working directory, HOME and TMPDIR; after each sample everything in `tmp` but
        # `keep` and the scratch directory is removed, and the scratch directory emptied.
        self.scratch = str(isolation.get(wire.SCRATCH) or os.path.join(config["workdir"], "scratch"))
        self.tmp = str(isolation.get(wire.TMP) or self.scratch)
        self.keep = frozenset(isolation.get(wire.KEEP, ()))
        self._clean_scratch()
        os.environ.clear()
        os.environ.update(
            {
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": self.scratch,
                "TMPDIR": self.scratch,
                "OMP_NUM_THREADS": "1",
            }
        )

    def serve(self, memory: int | None) -> None:
        # Compiling a completion runs none of it, but parsing can still take memory: cap the server as
        # the samples are capped, so a hostile source costs a restart, not the machine.
        confine.limit_address_space(memory)
        _send(self.control, wire.isolation(self.isolation))
        # Everything alive now (the interpreter and the preloaded modules) moves out of the collector's
        # reach: a collection in a child then never walks, and so never copies, the pages it shares.
        gc.collect()
        gc.freeze()
        while True:
            try:
                request = self.frames.read(self.control)
            except (EOFError, wire.FrameTooLarge):
                return
            self._run_one(request)

    def _run_one(self, request: dict[str, Any]) -> None:
        try:
            code = compile(request[wire.SOURCE], wire.CANDIDATE_NAME, "exec")
        except SyntaxError as exc:
            _send(self.control, wire.not_compiled(type(exc).__name__, _safe_str(exc.msg), exc.lineno))
            return
        except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting or size
            _send(self.control, wire.not_compiled(type(exc).__name__, _safe_str(exc)))
            return
        captured = _CappedText(int(request[wire.OUTPUT_LIMIT]))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Set before the child can send: the kernel then stamps each of its messages with its pid, as
        # seen from the client's PID namespace, which the client needs to read the child's clock.
        if hasattr(socket, "SO_PASSCRED"):  # Linux
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _child(request, code, theirs, captured, self)
            finally:
                os._exit(70)
        theirs.close()
        socket.send_fds(self.control_socket, [wire.COMPILED_FRAME], [ours.fileno()])
        ours.close()
        status = None
        try:
            message = self.frames.read(self.control)  # finish, sent when the trusted side is done
            assert message.get(wire.FINISH)
            status = self._reap_if_exited(pid, patience=0.2 if message.get(wire.LOST) else 0.0)
        finally:
            self._kill_everything(pid)
            self._clean_scratch()
        _send(self.control, wire.exited(_describe_status(status)))

    def _reap_if_exited(self, pid: int, patience: float) -> int | None:
        """The child's status if it has ended; a child that hung up may need a moment to finish dying."""
        for _ in range(int(patience / 0.001) + 1):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return status
            if patience:
                select.select([], [], [], 0.001)
        return None

    def _kill_everything(self, pid: int) -> None:
        """Kill the sample and everything it started, detached or not, and reap them all."""
        if self.pid_namespace:
            try:
                os.kill(-1, signal.SIGKILL)  # as init of this namespace: every process in it but us
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)  # SIGKILLed, so this returns; usually it was the only process
            except ChildProcessError:
                pass
        else:
            for kill in (os.killpg, os.kill):  # kill(): it may not have called setsid yet
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for _ in range(10000):
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if done == 0:  # something still runs: a process forked while we killed, or an orphan
                if self.pid_namespace:
                    os.kill(-1, signal.SIGKILL)
                else:
                    for orphan in _children_of(os.getpid()):
                        try:
                            os.kill(orphan, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                select.select([], [], [], 0.0005)

    def _clean_scratch(self) -> None:
        """Leave the scratch directory empty, and there, for the next sample.

        Runs after every sample, so the common case (nothing left behind) costs two directory listings.
        """
        leftovers = []
        for directory in dict.fromkeys((self.tmp, self.scratch)):  # one directory in the fallback
            try:
                names = os.listdir(directory)
            except FileNotFoundError:  # the sample removed it
                continue
            skip = self.keep | {os.path.basename(self.scratch)} if directory != self.scratch else frozenset()
            leftovers += [os.path.join(directory, name) for name in names if name not in skip]
        for path in leftovers:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        if leftovers or not os.path.isdir(self.scratch):
            os.makedirs(self.scratch, exist_ok=True)
            os.chmod(self.scratch, 0o1777)
        os.chdir(self.scratch)


def _describe_status(status: int | None) -> str:
    if status is None:
        return "killed after the check"
    if os.WIFSIGNALED(status):
        try:
            name = signal.Signals(os.WTERMSIG(status)).name
        except ValueError:
            name = str(os.WTERMSIG(status))
        return f"killed by signal {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


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


# ---------------------------------------------------------------------------- start


# Modules samples import most, imported once here so that children find them ready. `random` reseeds
# itself in every forked child.
PRELOAD = (
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "typing",
    "hashlib",
    "random",
    "statistics",
    "fractions",
    "decimal",
    "copy",
    "operator",
    "encodings.idna",
)


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def main() -> None:
    config = json.loads(sys.argv[1])
    control = int(config["control_fd"])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # nothing a child inherits may reach a terminal or a pipe of the client's
        os.dup2(devnull, fd)
    os.close(devnull)
    confine.die_with_parent()
    python_paths = confine.python_paths(exclude=HERE)
    _preload()
    isolation = wire.new_report()
    notes: list[str] = isolation[wire.NOTES]
    if not config.get("isolate", True):
        notes.append("isolation switched off")
        return _serve_unisolated(config, control, isolation)
    uid, gid = confine.sandbox_ids()
    entered = confine.enter_namespaces(uid, gid)
    if entered.holder is None:
        notes.append(entered.refused)
        return _serve_unisolated(config, control, isolation)
    if entered.holder == 0:  # PID 1 of the new namespaces, whose id maps are written
        isolation.update({wire.USER: True, wire.NETWORK: True, wire.PID: True, wire.UID: uid, wire.GID: gid})
        try:
            _init_process(config, control, isolation, python_paths)
        except BaseException:
            traceback.print_exc()
        os._exit(0)
    os.close(control)
    confine.become_subreaper()
    os.waitpid(entered.holder, 0)
    return None


def _init_process(
    config: dict[str, Any], control: int, isolation: dict[str, Any], python_paths: list[str]
) -> None:
    """PID 1 of the sandbox's namespaces: make the file system, then serve."""
    confine.die_with_parent()
    root = confine.confine_filesystem(config["workdir"], python_paths, list(config.get("hide", [])))
    isolation[wire.NOTES].extend(root.notes)
    if root.pivoted:
        isolation.update(
            {
                wire.KEEP: root.keep,
                wire.TMP: confine.ROOT_TMP,
                wire.SCRATCH: confine.ROOT_SCRATCH,
                wire.FILESYSTEM: True,
            }
        )
    confine.make_undumpable()
    Server(config, control, isolation).serve(config.get("memory"))


def _serve_unisolated(config: dict[str, Any], control: int, isolation: dict[str, Any]) -> None:
    """The fallback where namespaces are unavailable: a subreaper that kills process groups."""
    confine.become_subreaper()
    confine.make_undumpable()
    Server(config, control, isolation).serve(config.get("memory"))
    os.chdir("/")
    shutil.rmtree(config["workdir"], ignore_errors=True)


if __name__ == "__main__":
    main()
