"""The fork server: a small, clean interpreter that hosts each untrusted candidate in a fresh child.

This file runs as a script (``python -I forkserver.py CONFIG``), started by :mod:`.client`, with its
control socket on the fd that CONFIG names. It imports only the standard library and its stdlib-only
companions in this directory (:mod:`.wire`, :mod:`.confine`, :mod:`._plain`, :mod:`.probe` and the layers
it uses, :mod:`.isolation`, :mod:`.refusals`), as top-level modules and while their files are still
visible, nothing of pytest or of this package: a forked child starts from a pristine interpreter
whatever the pytest process loaded. The one optional dependency, ``pyseccomp``, is imported by
:func:`seccomp_filter.load_library` at start, inside a try: without it the seccomp layer is reported
missing.

**What runs here is only the candidate**: the prompt plus the model's completion, as a module. The
dataset's test never enters this process or its children; the trusted side runs it and calls the
candidate's entry point across a socket, arguments and return values as plain data (see ``_plain``);
an iterator the candidate returns stays here, and the trusted side asks for its items one at a time.

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
* IPC and UTS namespaces;
* in each child, a seccomp filter (:mod:`.seccomp_filter`);
* in each child, last, an audit hook that reports to the trusted side what the layers refuse
  (:mod:`.refusals`).

Where namespaces are refused (a container, a locked-down CI runner), each child gets what needs none
instead: a uid of this server's own when it runs as root (:mod:`.uids`), ``no_new_privs``, a Landlock
domain (:mod:`.landlock_rules`) and the seccomp filter. Every one of these is kept only once a probe child
has seen it hold (:mod:`.probe`).

The protocol with the client is :mod:`.wire`'s: the isolation report first; then per request the server
compiles the source and answers that it did not compile, or forks the child and hands the client one end
of a fresh socket pair, over which the client talks to the child directly. When the client is done it
sends finish; the server kills everything the sample started, empties the scratch directory and answers
how the child ended.
"""

from __future__ import annotations

import array
import base64
import codecs
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
    from . import _plain, confine, probe, refusals, seccomp_filter, wire
    from .isolation import guarantees
else:
    # Run as a script, under -I, which may leave this directory off the path. The companions are
    # imported now, while their files are visible: pivot_root hides the checkout, and children find
    # them already loaded.
    sys.path.insert(0, HERE)
    import _plain
    import confine
    import probe
    import refusals
    import seccomp_filter
    import wire
    from isolation import guarantees


def _send(fd: int, message: dict[str, Any]) -> None:
    wire.write_all(fd, wire.frame(message))


def _reply(reporter: refusals.Reporter, message: dict[str, Any]) -> None:
    reporter.send(wire.frame(message))


# ---------------------------------------------------------------------------- the child


class _Sink(io.FileIO):
    """The bottom of the candidate's output stream: keeps the first `limit` bytes written, drops the rest.

    A FileIO (on fd 1, /dev/null, which it never writes to) rather than a RawIOBase: the text layer
    checks a FileIO's `closed` in C on every write, a Python class's through attribute lookups.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(1, "w", closefd=False)
        self._kept = bytearray()
        self._room = limit

    def write(self, data: Any) -> int:
        size = len(data)
        if self._room > 0:
            piece = data[: self._room]
            self._kept += piece
            self._room -= len(piece)
        return size

    def take(self) -> bytes:
        """The bytes kept since the last call."""
        kept, self._kept = bytes(self._kept), bytearray()
        return kept


class _Output:
    """The candidate's sys.stdout and sys.stderr, at the cost of a write to an in-memory file.

    Each ``print`` goes into C: io.TextIOWrapper encodes and gathers text, io.BufferedWriter gathers
    bytes, and Python code (the sink's write) runs once per OUTPUT_BUFFER bytes, not once per write. The
    sink keeps at most what `limit` characters can take in UTF-8, so memory stays bounded whatever the
    candidate prints; `take` cuts the text to `limit` characters in all.
    """

    def __init__(self, limit: int) -> None:
        self._sink = _Sink(limit * 4)  # UTF-8 needs at most 4 bytes a character
        # surrogatepass: a lone surrogate prints, as it would to an in-memory text file.
        self.stream = io.TextIOWrapper(
            io.BufferedWriter(self._sink, OUTPUT_BUFFER),
            encoding="utf-8",
            errors="surrogatepass",
            newline="\n",
        )
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._room = limit

    def take(self) -> str:
        """What was printed since the last call, within the limit."""
        try:
            self.stream.flush()
        except Exception:  # closed or broken by the candidate: what reached the sink still counts
            pass
        text = self._decoder.decode(self._sink.take())[: max(self._room, 0)]
        self._room -= len(text)
        return text


OUTPUT_BUFFER = 1 << 16  # bytes gathered in C before the sink's Python-level write runs


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
    request: dict[str, Any], code: Any, sock: socket.socket, server: Server, captured: _Output
) -> None:
    """Body of the forked child. Never returns: it ends with os._exit.

    `captured` and the server's reporter and hook were built by the server before it forked: the child
    uses its own copy of each, pristine, and so allocates (and copies pages for) almost nothing of ours.
    """
    fd = sock.fileno()
    timeout = float(request[wire.TIMEOUT])
    confine.confine_sample(
        layers=server.layers,
        pid_namespace=server.pid_namespace,
        # The trusted side's clock decides a timeout; this is a backstop behind its wall-clock cap.
        cpu_seconds=max(1, int(timeout * wire.WALL_FACTOR) + 1),
        memory=request.get(wire.MEMORY),
    )
    os.closerange(3, fd)
    os.closerange(fd + 1, 1 << 16)
    sys.stdout = sys.stderr = captured.stream
    sys.stdin = _EMPTY_STDIN
    sys.argv = ["candidate"]
    sys.modules["__candidate__"] = module = type(sys)("__candidate__")
    entry_point = request[wire.ENTRY_POINT]
    reporter = server.reporter
    reporter.start(fd)
    if server.hook is not None:  # last, so that nothing of ours before the candidate is reported
        sys.addaudithook(server.hook)
    try:
        reporter.send(wire.HELLO_FRAME)  # the client learns our pid from this message's credentials
        try:
            exec(code, module.__dict__)
            function = module.__dict__[entry_point]
        except KeyError:
            missing = wire.exception("NameError", True, f"name {entry_point!r} is not defined", None)
            _reply(reporter, wire.error(missing))
            os._exit(0)
        except BaseException as exc:
            _reply(reporter, wire.error(_describe(exc), captured.take()))
            os._exit(0)
        out = captured.take()
        reporter.send(wire.frame(wire.ready(out)) if out else wire.READY_FRAME)
        _serve_calls(fd, reporter, function, captured)
    except BaseException:
        os._exit(71)
    os._exit(0)


def _serve_calls(fd: int, reporter: refusals.Reporter, function: Any, captured: _Output) -> None:
    """Answer the trusted side's calls, and its requests for iterators' items, until it hangs up.

    One request at a time, in the order they come: calls and the steps of iterators returned earlier
    interleave as the test makes them, as they would in one process.
    """
    frames = wire.Frames()
    iterators = _Iterators()
    while True:
        try:
            request = frames.read(fd)
        except (EOFError, wire.FrameTooLarge):
            return
        if wire.BATCH in request:
            _serve_batch(reporter, function, captured, request[wire.BATCH])
            continue
        if wire.NEXT in request:
            reply = iterators.step(request[wire.NEXT], captured)
        else:
            reply = _call(function, request, iterators, captured)
        _reply(reporter, reply)


def _call(function: Any, request: dict[str, Any], iterators: _Iterators, captured: _Output) -> dict[str, Any]:
    try:
        args = _plain.from_tree(request[wire.ARGS], iterators.find)
        kwargs = _plain.from_tree(request[wire.KWARGS], iterators.find)
        value = function(*args, **kwargs)
    except BaseException as exc:
        return wire.raised(_describe(exc), captured.take())
    return _answer(value, iterators, captured)


def _answer(value: Any, iterators: _Iterators | None, captured: _Output) -> dict[str, Any]:
    """The reply that carries `value`: plain data, with a handle for each iterator in it.

    Without `iterators` (a batch, whose answers are compared whole) an iterator is not plain data.
    """
    try:
        tree = _plain.to_tree(value, None if iterators is None else iterators.handle)
    except _plain.NotPlainData as exc:
        return wire.unplain(_safe_str(exc), captured.take())
    except BaseException as exc:  # a subclass's own __iter__ or keys(), which converting it runs
        return wire.raised(_describe(exc), captured.take())
    return wire.returned(tree, captured.take())


class _Iterators:
    """The iterators the trusted side holds handles to, alive until the sample ends."""

    def __init__(self) -> None:
        self._objects: list[Any] = []
        self._handles: dict[int, int] = {}  # id() of an object in _objects -> its handle

    def handle(self, value: Any) -> int | None:
        """The handle of `value` if it is an iterator (the same one each time it crosses), else None."""
        if not _plain.is_iterator(value):
            return None
        handle = self._handles.get(id(value))
        if handle is None:
            handle = self._handles[id(value)] = len(self._objects)
            self._objects.append(value)
        return handle

    def find(self, handle: int) -> Any:
        """The iterator a handle from the trusted side stands for (the test passed it back)."""
        if 0 <= handle < len(self._objects):
            return self._objects[handle]
        raise _plain.NotPlainData(f"no iterator has the handle {handle!r}")

    def step(self, handle: int, captured: _Output) -> dict[str, Any]:
        """The reply to NEXT: the iterator's next item, its end, or what it raised."""
        try:
            item = next(self.find(handle))
        except StopIteration:
            return wire.exhausted(captured.take())
        except BaseException as exc:
            return wire.raised(_describe(exc), captured.take())
        return _answer(item, self, captured)


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


def _serve_batch(reporter: refusals.Reporter, function: Any, captured: _Output, calls: Any) -> None:
    """Answer each call of a batch as soon as it returns: the trusted side judges while we run on."""
    for args in calls if isinstance(calls, list) else ():
        try:
            value = function(*_plain.from_tree(args))
        except BaseException as exc:
            _reply(reporter, wire.raised(_describe(exc), captured.take()))
            continue
        # Exact lists and tuples of builtin numbers only: packing runs none of the sample's code.
        reply = _packed(value)
        if reply is None:
            reply = _answer(value, None, captured)
        else:
            reply[wire.OUT] = captured.take()
        if wire.RETURN in reply and type(value) not in _NATIVE:
            reply[wire.FOREIGN] = True
        _reply(reporter, reply)


_EMPTY_STDIN = io.StringIO("")  # input() in a sample gets EOFError at once
COMPILED_KEPT = 32  # sources whose compiled code the server keeps
COMPILED_KEPT_SIZE = 1 << 16  # characters of the longest source kept (HumanEval's are about 1,000)


# ---------------------------------------------------------------------------- the server


class Server:
    def __init__(
        self, config: dict[str, Any], control: int, isolation: dict[str, Any], layers: confine.Layers
    ) -> None:
        self.control = control
        self.control_socket = socket.socket(fileno=os.dup(control))
        self.frames = wire.Frames()
        self.isolation = isolation
        self.layers = layers
        self.pid_namespace = bool(isolation.get(wire.PID))
        # Without namespaces, as root: the scratch directory belongs to the sandbox's own uid, mode 700.
        self.owner = (layers.uid, layers.gid) if isolation.get(wire.SANDBOX_USER) else None
        # The sample's working directory, HOME and TMPDIR; after each sample everything in `tmp` but
        # `keep` and the scratch directory is removed, and the scratch directory emptied.
        self.scratch = str(isolation.get(wire.SCRATCH) or os.path.join(config["workdir"], "scratch"))
        self.tmp = str(isolation.get(wire.TMP) or self.scratch)
        self.keep = frozenset(isolation.get(wire.KEEP, ()))
        # What each child's audit hook watches: the refusals the guarantees make certain (see refusals).
        watched = refusals.plan(
            guarantees(isolation),
            pid_namespace=self.pid_namespace,
            writable=(self.tmp, self.scratch, probe.SHARED_MEMORY),
            devices=probe.DEVICES,
        )
        # Built once, before any fork: each child starts its own copy (see _child).
        self.reporter = refusals.Reporter(-1)
        self.hook = refusals.hook(watched, self.reporter) if watched is not None else None
        self._outputs: dict[int, _Output] = {}
        self._compiled: dict[str, Any] = {}  # source -> code object or not-compiled reply, oldest first
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
        code = self._compile(request[wire.SOURCE])
        if isinstance(code, dict):
            _send(self.control, code)
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Set before the child can send: the kernel then stamps each of its messages with its pid, as
        # seen from the client's PID namespace, which the client needs to read the child's clock.
        if hasattr(socket, "SO_PASSCRED"):  # Linux
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        limit = int(request[wire.OUTPUT_LIMIT])
        captured = self._outputs.get(limit)
        if captured is None:  # one per output limit, never written to here
            captured = self._outputs[limit] = _Output(limit)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _child(request, code, theirs, self, captured)
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

    def _compile(self, source: str) -> Any:
        """The code object of `source`, or the not-compiled reply; the latest few are kept.

        Samples of one problem come one after another, and models often repeat themselves (a quarter of
        CodeGen's 16,400 published samples are repeats): a repeated source is compiled once. A code
        object is immutable, and each child runs its own copy.
        """
        kept = self._compiled.pop(source, None)
        if kept is None:
            try:
                kept = compile(source, wire.CANDIDATE_NAME, "exec")
            except SyntaxError as exc:
                kept = wire.not_compiled(type(exc).__name__, _safe_str(exc.msg), exc.lineno)
            except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting or size
                kept = wire.not_compiled(type(exc).__name__, _safe_str(exc))
            if len(source) > COMPILED_KEPT_SIZE:
                return kept
            if len(self._compiled) >= COMPILED_KEPT:
                del self._compiled[next(iter(self._compiled))]  # the least recently used
        self._compiled[source] = kept  # now the most recently used
        return kept

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
            make_scratch(self.scratch, self.owner)
        if self.owner is not None:
            _clean_shared_memory(self.owner[0])
        os.chdir(self.scratch)


def make_scratch(path: str, owner: tuple[int | None, int | None] | None) -> None:
    """The scratch directory: open to all (1777), or owned by the sandbox's uid alone (700)."""
    os.makedirs(path, exist_ok=True)
    if owner is None:
        if os.stat(path).st_uid != os.geteuid():  # left to a uid the probe found unusable
            os.chown(path, os.geteuid(), os.getegid())
        os.chmod(path, 0o1777)
    else:
        os.chown(path, owner[0] if owner[0] is not None else -1, owner[1] if owner[1] is not None else -1)
        os.chmod(path, 0o700)


def _clean_shared_memory(uid: int | None) -> None:
    """Remove what the sandbox's uid left in /dev/shm, the one place outside scratch it may write."""
    try:
        entries = list(os.scandir(probe.SHARED_MEMORY))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                os.unlink(entry.path)
        except OSError:
            pass


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


# Modules samples import most, imported once here so that children find them ready. Not `random` (nor
# `statistics`, which imports it): it reseeds itself in every forked child, about 50 page faults a sample,
# while fewer than 1 in 300 real samples uses it. Nothing here may import `threading` (see
# seccomp_filter.load_library); a test checks that a child starts without it.
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
    seccomp_filter.load_library()  # now, while the system's library paths are visible
    isolation = wire.new_report()
    notes: list[str] = isolation[wire.NOTES]
    if not config.get("isolate", True):
        notes.append("isolation switched off")
        return _serve_unisolated(config, control, isolation, confine.Layers())
    uid, gid = confine.sandbox_ids()
    entered = confine.enter_namespaces(uid, gid)
    if entered.holder is None:
        notes.append(entered.refused)
        return _serve_unisolated(
            config, control, isolation, _layers_without_namespaces(config, isolation, python_paths)
        )
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
    scratch = str(isolation.get(wire.SCRATCH) or os.path.join(config["workdir"], "scratch"))
    prepared = probe.prepare(own_uid=False, landlock=False, scratch=scratch, python_paths=[], hide=[])
    make_scratch(scratch, None)
    uid, gid = isolation[wire.UID], isolation[wire.GID]
    held = probe.verify(prepared, uid, gid, scratch, outside=scratch)
    _record(isolation, prepared, held)
    layers = confine.Layers(uid, gid, None, prepared.seccomp if held.get(wire.SECCOMP) else None)
    Server(config, control, isolation, layers).serve(config.get("memory"))


def _layers_without_namespaces(
    config: dict[str, Any], isolation: dict[str, Any], python_paths: list[str]
) -> confine.Layers:
    """Where namespaces are refused: a uid of its own (as root), Landlock and seccomp, each as verified."""
    if not sys.platform.startswith("linux"):  # other systems keep the session, limits and cleanup alone
        return confine.Layers()
    workdir = config["workdir"]
    scratch = os.path.join(workdir, "scratch")
    outside = os.path.join(workdir, "outside")  # writable by the probe but for Landlock
    make_scratch(scratch, None)  # before the Landlock rules, which name it
    prepared = probe.prepare(
        own_uid=os.geteuid() == 0,
        landlock=True,
        scratch=scratch,
        python_paths=python_paths,
        hide=list(config.get("hide", [])),
    )
    claimed = prepared.claimed
    owner = (claimed.uid, claimed.gid) if claimed is not None else None
    if owner is not None:
        os.chmod(workdir, 0o711)  # the sandbox's uid may pass through to its scratch directory, no more
    make_scratch(scratch, owner)
    make_scratch(outside, owner)
    held = probe.verify(prepared, None, None, scratch, outside)
    shutil.rmtree(outside, ignore_errors=True)
    _record(isolation, prepared, held)
    if claimed is not None and not isolation[wire.SANDBOX_USER]:
        claimed.release()
        make_scratch(scratch, None)
        owner = None
    if prepared.landlock is not None and not isolation[wire.LANDLOCK]:
        os.close(prepared.landlock)
    uid, gid = owner if owner is not None else (None, None)
    if owner is not None:
        isolation.update({wire.UID: uid, wire.GID: gid})
    return confine.Layers(
        uid,
        gid,
        prepared.landlock if isolation[wire.LANDLOCK] else None,
        prepared.seccomp if isolation[wire.SECCOMP] else None,
    )


def _record(isolation: dict[str, Any], prepared: probe.Prepared, held: dict[str, Any]) -> None:
    """Put what the probe child found into the isolation report, with the notes of both."""
    for layer in (wire.SANDBOX_USER, wire.NO_NEW_PRIVS, wire.SECCOMP):
        isolation[layer] = bool(held.get(layer))
    isolation[wire.LANDLOCK] = int(held.get(wire.LANDLOCK) or 0)
    isolation[wire.NOTES].extend(prepared.notes + list(held.get(wire.NOTES, [])))


def _serve_unisolated(
    config: dict[str, Any], control: int, isolation: dict[str, Any], layers: confine.Layers
) -> None:
    """The fallback where namespaces are unavailable: a subreaper that kills process groups."""
    confine.become_subreaper()
    confine.make_undumpable()
    Server(config, control, isolation, layers).serve(config.get("memory"))
    os.chdir("/")
    shutil.rmtree(config["workdir"], ignore_errors=True)


if __name__ == "__main__":
    main()
