"""The fork server: a small, clean interpreter that hosts each untrusted candidate in a fresh child.

This file runs as a script (``python -I _forkserver.py CONFIG``), started by :mod:`.client`, with its
control socket on fd 3. It imports only the standard library and :mod:`._plain`, nothing of pytest or of
this package, so a forked child starts from a pristine interpreter whatever the pytest process loaded.

**What runs here is only the candidate**: the prompt plus the model's completion, as a module. The
dataset's test never enters this process or its children; the trusted side runs it and calls the
candidate's entry point across a socket, arguments and return values as plain data (see ``_plain``).

Isolation, set up once at start when the kernel allows it (each part is reported back to the client,
which warns when one is missing):

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

Protocol with the client, frames of a 4-byte big-endian length and a JSON payload: the first frame is
the isolation report. Then per request ``{"source", "entry_point", "timeout", "memory", "output_limit"}``
the server compiles the source and answers ``{"compiled": false, ...}``, or forks the child and answers
``{"compiled": true}`` with one end of a fresh socket pair attached (SCM_RIGHTS): the client talks to the
child directly. When the client is done it sends ``{"finish": true}``; the server kills everything the
sample started, empties the scratch directory and answers how the child ended.
"""

from __future__ import annotations

import ctypes
import gc
import io
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

MAX_FRAME = 8 * 1024 * 1024
MAX_TEXT = 2000  # characters of an exception message kept
CANDIDATE_NAME = "<candidate>"
SCRATCH_TMPFS_SIZE = "512m"  # disk a sample may fill in its scratch directory
MAX_FILE_SIZE = 256 * 1024 * 1024
MAX_PROCESSES = 256  # processes and threads of the sandbox user (RLIMIT_NPROC)
DEVICES = ("null", "zero", "full", "random", "urandom")
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/localtime")


def _load_libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # not Linux: nothing below that needs it will be attempted
        return None


_LIBC = _load_libc()
# Looked up here, once: a child that first touched ctypes's lookup machinery would copy its pages.
_CAPSET = getattr(_LIBC, "capset", None)
_CAP_HEADER = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
_NO_CAPS = bytes(24)  # effective, permitted and inheritable sets, all empty


def _prctl(option: int, value: int) -> None:
    prctl = getattr(_LIBC, "prctl", None)  # Linux only; elsewhere the client's cleanup still applies
    if prctl is not None:
        prctl(option, value, 0, 0, 0)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if s is None else s.encode() for s in (source, target, fstype)]
    _check(
        _LIBC.mount(args[0], args[1], args[2], flags, None if data is None else data.encode()),
        f"mount {target}",
    )


# ---------------------------------------------------------------------------- framing


class _Frames:
    """Reads framed messages from one file descriptor, usually a whole frame in one read()."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def next(self) -> dict[str, Any]:
        while True:
            if len(self._buffer) >= 4:
                (size,) = struct.unpack_from(">I", self._buffer)
                if size > MAX_FRAME:
                    raise EOFError
                if len(self._buffer) >= 4 + size:
                    message: dict[str, Any] = json.loads(self._buffer[4 : 4 + size])
                    del self._buffer[: 4 + size]
                    return message
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buffer += chunk


def _frame(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def _send(fd: int, obj: dict[str, Any]) -> None:
    _send_frame(fd, _frame(obj))


def _send_frame(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view) :]


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
    return text[:MAX_TEXT]


def _candidate_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> dict[str, Any]:
    try:
        name = type(exc).__name__
        builtin = type(exc).__module__ == "builtins"
    except BaseException:
        name, builtin = "BaseException", False
    return {
        "type": _safe_str(name),
        "builtin": builtin,
        "message": _safe_str(exc),
        "line": _candidate_line(exc),
    }


def _drop_privileges(sandbox_uid: int | None, sandbox_gid: int | None) -> None:
    """In the user namespace: become the sandbox user and give up every capability for good."""
    if sandbox_uid is None or sandbox_gid is None or _LIBC is None:
        return
    try:
        os.setgroups([])
    except OSError:  # setgroups is denied in namespaces made by an unprivileged user
        pass
    os.setresgid(sandbox_gid, sandbox_gid, sandbox_gid)
    os.setresuid(sandbox_uid, sandbox_uid, sandbox_uid)
    if _CAPSET is not None:
        _check(_CAPSET(_CAP_HEADER, _NO_CAPS), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _child(
    request: dict[str, Any], code: Any, sock: socket.socket, captured: _CappedText, server: Server
) -> None:
    """Body of the forked child. Never returns: it ends with os._exit."""
    fd = sock.fileno()
    # Its own session and process group: kill(0) and killpg() from the sample reach only itself, never
    # the processes outside the PID namespace that share the server's group.
    os.setsid()
    if not server.pid_namespace:  # in one, the server's death kills the namespace and all in it
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _drop_privileges(server.sandbox_uid, server.sandbox_gid)
    memory = request.get("memory")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, int(float(request["timeout"]) * 4) + 1)  # the client's clock decides; this is a backstop
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_SIZE, MAX_FILE_SIZE))
    if server.sandbox_uid is not None:  # counted per user: only meaningful for the sandbox's own user
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with an error instead
    os.closerange(3, fd)
    os.closerange(fd + 1, 1 << 16)
    sys.stdout = sys.stderr = captured
    sys.stdin = _EMPTY_STDIN
    sys.argv = ["candidate"]
    sys.modules["__candidate__"] = module = type(sys)("__candidate__")
    try:
        _send_frame(fd, _HELLO)  # the client learns our pid from this message's credentials
        try:
            exec(code, module.__dict__)
            function = module.__dict__[request["entry_point"]]
        except KeyError:
            _send(
                fd,
                {
                    "error": {
                        "type": "NameError",
                        "builtin": True,
                        "line": None,
                        "message": f"name {request['entry_point']!r} is not defined",
                    }
                },
            )
            os._exit(0)
        except BaseException as exc:
            _send(fd, {"error": _describe(exc), "out": captured.take()})
            os._exit(0)
        out = captured.take()
        _send_frame(fd, _frame({"ready": True, "out": out}) if out else _READY)
        _serve_calls(fd, function, captured)
    except BaseException:
        os._exit(71)
    os._exit(0)


def _serve_calls(fd: int, function: Any, captured: _CappedText) -> None:
    """Answer the trusted side's calls until it hangs up."""
    from _plain import from_tree, to_tree  # type: ignore[import-not-found]

    frames = _Frames(fd)
    while True:
        try:
            request = frames.next()
        except EOFError:
            return
        try:
            args, kwargs = from_tree(request["args"]), from_tree(request["kwargs"])
            reply: dict[str, Any] = {"return": to_tree(function(*args, **kwargs))}
        except BaseException as exc:
            reply = {"raise": _describe(exc)}
        reply["out"] = captured.take()
        _send(fd, reply)


# Messages every sample sends, framed once here rather than in each child.
_HELLO = _frame({"hello": True})
_READY = _frame({"ready": True})
_COMPILED = _frame({"compiled": True})
_EMPTY_STDIN = io.StringIO("")  # input() in a sample gets EOFError at once


# ---------------------------------------------------------------------------- the server


class Server:
    def __init__(self, config: dict[str, Any], control: int, isolation: dict[str, Any]) -> None:
        self.control = control
        self.control_socket = socket.socket(fileno=os.dup(control))
        self.frames = _Frames(control)
        self.isolation = isolation
        self.pid_namespace = bool(isolation.get("pid"))
        self.sandbox_uid: int | None = isolation.get("uid")
        self.sandbox_gid: int | None = isolation.get("gid")
        # The sample's working directory, HOME and TMPDIR; after each sample everything in `tmp` but
        # `keep` and the scratch directory is removed, and the scratch directory emptied.
        self.scratch = str(isolation.get("scratch") or os.path.join(config["workdir"], "scratch"))
        self.tmp = str(isolation.get("tmp") or self.scratch)
        self.keep = frozenset(isolation.get("keep", ()))
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
        if memory:
            # Compiling a completion runs none of it, but parsing can still take memory: cap the server
            # as the samples are capped, so a hostile source costs a restart, not the machine.
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        _send(self.control, {"isolation": self.isolation})
        # Everything alive now (the interpreter and the preloaded modules) moves out of the collector's
        # reach: a collection in a child then never walks, and so never copies, the pages it shares.
        gc.collect()
        gc.freeze()
        while True:
            try:
                request = self.frames.next()
            except EOFError:
                return
            self._run_one(request)

    def _run_one(self, request: dict[str, Any]) -> None:
        try:
            code = compile(request["source"], CANDIDATE_NAME, "exec")
        except SyntaxError as exc:
            _send(
                self.control,
                {
                    "compiled": False,
                    "type": type(exc).__name__,
                    "message": _safe_str(exc.msg),
                    "line": exc.lineno,
                },
            )
            return
        except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting or size
            _send(self.control, {"compiled": False, "type": type(exc).__name__, "message": _safe_str(exc)})
            return
        captured = _CappedText(int(request.get("output_limit", 65536)))
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
        socket.send_fds(self.control_socket, [_COMPILED], [ours.fileno()])
        ours.close()
        status = None
        try:
            message = self.frames.next()  # {"finish": true}, sent when the trusted side is done
            assert message.get("finish")
            status = self._reap_if_exited(pid, patience=0.2 if message.get("lost") else 0.0)
        finally:
            self._kill_everything(pid)
            self._clean_scratch()
        _send(self.control, {"exit": _describe_status(status)})

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


# ---------------------------------------------------------------------------- isolation


def _sandbox_ids() -> tuple[int, int]:
    """The user the samples run as: nobody when we are root, else ourselves (all we may map)."""
    if os.geteuid() == 0:
        return 65534, 65534
    return os.geteuid(), os.getegid()


def _enter_namespaces() -> tuple[bool, str]:
    """Called in a child of the shim: move into new namespaces; the shim then writes the id maps."""
    if _LIBC is None or not hasattr(os, "fork"):
        return False, "not Linux"
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    try:
        _check(_LIBC.unshare(flags), "unshare")
    except OSError as exc:
        return False, f"user namespaces are not available ({exc.strerror})"
    return True, ""


def _write_id_maps(pid: int, uid: int, gid: int) -> None:
    """Map the sandbox user, and the server's own user so that it can make files for the new root."""
    own_uid, own_gid = os.geteuid(), os.getegid()
    if own_uid != 0:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    uids = sorted({own_uid, uid})
    gids = sorted({own_gid, gid})
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write("".join(f"{u} {u} 1\n" for u in uids))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write("".join(f"{g} {g} 1\n" for g in gids))


def _mount_flags_of(path: str) -> int:
    """The flags a read-only remount must keep: in a user namespace the kernel refuses to clear them."""
    st = os.statvfs(path)
    flags = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    ):
        if st.f_flag & st_flag:
            flags |= ms_flag
    return flags


def _bind(path: str, newroot: str, read_only: bool = True) -> None:
    target = newroot + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(path, target, None, MS_BIND | MS_REC)
    if read_only:
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | _mount_flags_of(path)
        _mount(None, target, None, flags)


def _python_paths() -> list[str]:
    """What this interpreter reads: its prefixes and its import path (-I keeps the user's out of it)."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    # Never the checkout this file lives in: an editable install may have put it on the path.
    return sorted(p for p in paths if not (here + "/").startswith(p.rstrip("/") + "/"))


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


def _allowed_paths(config: dict[str, Any]) -> list[str]:
    """Top-most existing paths of what Python needs, parents before children, no path twice."""
    wanted = list(SYSTEM_PATHS) + [str(p) for p in config.get("python_paths", [])]
    chosen: list[str] = []
    for path in sorted({os.path.abspath(p) for p in wanted if p and os.path.lexists(p)}, key=len):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)
    return chosen


def _build_root(config: dict[str, Any], notes: list[str]) -> list[str]:
    """In the new mount namespace: a tmpfs root with only what samples may see.

    Returns the entries of /tmp that must survive cleaning (the way to bind mounts under /tmp).
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    newroot = os.path.join(config["workdir"], "root")
    os.makedirs(newroot, exist_ok=True)
    _mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # /tmp first: what Python needs may itself live under /tmp (a virtualenv in a CI checkout there), and
    # its bind mounts must land on top of the scratch file system, not under it.
    os.makedirs(newroot + "/tmp", exist_ok=True)
    _mount("tmpfs", newroot + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_TMPFS_SIZE},mode=1777")
    allowed = _allowed_paths(config)
    for path in allowed:
        _bind(path, newroot)
    # Entries of /tmp that lead to those binds are never cleaned away between samples.
    keep = sorted({p.split("/")[2] for p in allowed if p.startswith("/tmp/") and len(p.split("/")) > 2})
    for path in config.get("hide", []):  # e.g. the dataset with the tests, inside site-packages
        target = newroot + os.path.abspath(path)
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")
        elif os.path.exists(target):
            _mount("/dev/null", target, None, MS_BIND)
    os.makedirs(newroot + "/dev", exist_ok=True)
    for name in DEVICES:
        _bind(f"/dev/{name}", newroot, read_only=False)
    os.makedirs(newroot + "/dev/shm", exist_ok=True)
    _mount("tmpfs", newroot + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    os.makedirs(newroot + "/proc", exist_ok=True)
    try:
        _mount("proc", newroot + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:
        notes.append(f"no private /proc ({exc.strerror})")
    _mount(None, newroot, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(newroot)
    _check(_LIBC.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_LIBC.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    return keep


def _init_process(config: dict[str, Any], control: int, isolation: dict[str, Any]) -> None:
    """PID 1 of the sandbox's namespaces: make the file system, then serve."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    notes: list[str] = isolation.setdefault("notes", [])
    try:
        isolation["keep"] = _build_root(config, notes)
        isolation["tmp"] = "/tmp"
        isolation["scratch"] = "/tmp/sample"
        isolation["filesystem"] = True
    except OSError as exc:
        notes.append(f"file-system confinement is off ({exc})")
    _prctl(PR_SET_DUMPABLE, 0)  # nobody may read this process's memory through /proc
    Server(config, control, isolation).serve(config.get("memory"))


def main() -> None:
    config = json.loads(sys.argv[1])
    control = int(config["control_fd"])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # nothing a child inherits may reach a terminal or a pipe of the client's
        os.dup2(devnull, fd)
    os.close(devnull)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    config["python_paths"] = _python_paths()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _plain  # noqa: F401  # imported now, while its file is still visible

    _preload()

    isolation: dict[str, Any] = {
        "user": False,
        "network": False,
        "pid": False,
        "filesystem": False,
        "notes": [],
    }
    if not config.get("isolate", True):
        isolation["notes"].append("isolation switched off")
        return _serve_unisolated(config, control, isolation)
    uid, gid = _sandbox_ids()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the namespace holder: unshares, then forks the server as PID 1
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.close(ready_r)
        os.close(go_w)
        entered, why = _enter_namespaces()
        os.write(ready_w, b"1" if entered else why.encode()[:500] or b"0")
        if not entered:
            os._exit(0)
        if os.read(go_r, 1) != b"1":
            os._exit(0)
        isolation.update({"user": True, "network": True, "pid": True, "uid": uid, "gid": gid})
        server = os.fork()
        if server == 0:
            try:
                _init_process(config, control, isolation)
            except BaseException:
                traceback.print_exc()
            os._exit(0)
        os.waitpid(server, 0)
        os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    answer = os.read(ready_r, 500)
    if answer == b"1":
        try:
            _write_id_maps(pid, uid, gid)
            os.write(go_w, b"1")
        except OSError as exc:
            os.write(go_w, b"0")
            isolation["notes"].append(f"user namespace id mapping failed ({exc.strerror})")
            os.waitpid(pid, 0)
            return _serve_unisolated(config, control, isolation)
        os.close(control)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        os.waitpid(pid, 0)
        return None
    os.waitpid(pid, 0)
    isolation["notes"].append(answer.decode(errors="replace"))
    return _serve_unisolated(config, control, isolation)


def _serve_unisolated(config: dict[str, Any], control: int, isolation: dict[str, Any]) -> None:
    """The fallback where namespaces are unavailable: a subreaper that kills process groups."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    Server(config, control, isolation).serve(config.get("memory"))
    os.chdir("/")
    shutil.rmtree(config["workdir"], ignore_errors=True)


if __name__ == "__main__":
    main()
