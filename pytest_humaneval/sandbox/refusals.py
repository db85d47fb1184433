"""Seeing, inside a sample's child, what the confinement layers refuse: the ``refused_*`` tampering kinds.

The layers refuse silently (EPERM, EACCES, a namespace where nothing answers), and the kernel tells no
one. So each child installs, before the candidate runs, an audit hook (``sys.addaudithook``: later code
cannot remove it) that watches the few audited operations a layer refuses, and only those the sandbox's
guarantees cover (:func:`isolation.guarantees`; a kind whose guarantee does not hold is not watched, since
the operation might succeed):

* ``refused_socket`` (network): a socket of any family but ``AF_UNIX``; ``connect``, ``bind``, ``sendto``
  or ``sendmsg`` on one; resolving a host name;
* ``refused_write`` (writes): opening for writing, creating, removing or renaming a path outside the
  places a sample may write (its scratch directory, the sandbox's ``/tmp``, ``/dev/shm``, the devices
  such as ``/dev/null``, its own ``/proc`` entries); Python's own ``__pycache__`` writes are left out;
* ``refused_signal`` (signals): ``os.kill`` or ``os.killpg`` (signal 0, a mere probe, aside) to everyone
  (-1) or to a process or group outside the sample: in a PID namespace the fork server, PID 1; without
  one, a process the kernel does not let the sample signal (``kill(pid, 0)`` answers EPERM);
* ``refused_ptrace`` (signals): looking up ``ptrace``, ``process_vm_readv``/``writev`` or ``pidfd_getfd``
  through ctypes (a ctypes call itself is not audited on Linux), and opening a ptrace-guarded ``/proc``
  entry (``mem``, ``environ``, ``maps``...) of a process outside the sample.

The hook records; it never refuses, raises or changes what the operation does. A sample that does none
of these pays one Python call per audited event (imports, ``exec``, ``id()``...) that ends at a set
lookup. Each kind is sent once, at once, as a ``{TAMPERING: [kind]}`` frame on the child's socket, so that
the judge has it even if the sample dies next; when the socket is busy (a reply being written, by another
thread or under a signal handler) the kind waits and goes out ahead of the next reply. Only the child
itself sends: its forked descendants share the socket, and a frame of theirs could cut into one of the
child's. What the candidate does in them, or in a program it starts, is not seen.

Stdlib only and no relative imports: the fork server imports this file as a top-level module.
"""

from __future__ import annotations

import _thread
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING or __package__:
    from . import wire
else:
    import wire

AF_UNIX = 1
# open() flags that write (O_TMPFILE carries O_RDWR or O_WRONLY).
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PTRACE_SYMBOLS = frozenset(("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"))
# /proc/<pid>/<entry> that the kernel guards with a ptrace access check.
PTRACE_GUARDED = frozenset(
    (
        "mem",
        "environ",
        "auxv",
        "maps",
        "smaps",
        "smaps_rollup",
        "numa_maps",
        "pagemap",
        "map_files",
        "stack",
        "syscall",
        "personality",
        "io",
        "fd",
        "cwd",
        "root",
        "exe",
    )
)
# The guarantee (a key of isolation.GUARANTEES) under which each kind's operations are always refused.
GUARANTEE_OF = {
    wire.TAMPER_REFUSED_SOCKET: "network",
    wire.TAMPER_REFUSED_WRITE: "writes",
    wire.TAMPER_REFUSED_SIGNAL: "signals",
    wire.TAMPER_REFUSED_PTRACE: "signals",
}
SOCKET_EVENTS = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg")
RESOLVE_EVENTS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex")
# Events whose first argument is a path the operation changes, with the index of their dir_fd (-1: none).
# os.chmod and os.chown change the entry's own metadata; seccomp refuses them wherever it is installed.
ENTRY_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 2,
    "shutil.rmtree": -1,
    "os.chmod": 2,
    "os.chown": 3,
}


class Watched(NamedTuple):
    """What a child watches, decided once in the fork server: the kinds, and what counts as outside."""

    kinds: frozenset[str]
    pid_namespace: bool
    writable: tuple[str, ...]  # directories, resolved, beneath which writes are allowed
    devices: frozenset[str]  # files, resolved, that may be written


def plan(
    enforced: Mapping[str, bool],
    *,
    pid_namespace: bool,
    writable: Iterable[str],
    devices: Iterable[str],
) -> Watched | None:
    """What to watch under the guarantees `enforced`; None when none holds (then nothing is watched)."""
    kinds = frozenset(kind for kind, guarantee in GUARANTEE_OF.items() if enforced.get(guarantee))
    if not kinds:
        return None
    return Watched(
        kinds,
        pid_namespace,
        tuple(sorted({os.path.realpath(path) for path in writable})),
        frozenset(os.path.realpath(path) for path in devices),
    )


class Reporter:
    """The child's sender of tampering frames, and of its replies, which share the socket with them."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pid = os.getpid()  # the sample's process: what the hook treats as its own
        self.seen: set[str] = set()
        self._waiting: list[str] = []
        self._lock = _thread.allocate_lock()

    def note(self, kind: str) -> None:
        """Record `kind`; send it now unless the socket is busy or this is a descendant of the child."""
        if kind in self.seen or os.getpid() != self.pid:
            return
        self.seen.add(kind)
        if not self._lock.acquire(False):  # never wait here: the holder may be this very thread
            self._waiting.append(kind)
            return
        try:
            wire.write_all(self.fd, wire.frame(wire.tampered([kind])))
        except OSError:  # the judge has hung up: nothing is left to tell
            pass
        finally:
            self._lock.release()

    def send(self, data: bytes) -> None:
        """Write a reply's frame (`data`), after the frame of any kind still waiting."""
        with self._lock:
            if self._waiting:
                data = wire.frame(wire.tampered(self._waiting)) + data
                self._waiting = []
            wire.write_all(self.fd, data)

    def start(self, fd: int) -> None:
        """Begin sending on `fd`, as the current process: in a sample's child, before the hook is added.

        The fork server builds one reporter and its hook before it forks; each child's copy starts here,
        so the child's own work before the candidate is two assignments.
        """
        self.fd = fd
        self.pid = os.getpid()


def hook(watched: Watched, reporter: Reporter) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook for `watched`, reporting to `reporter`: built once, added in each child.

    It reads the reporter's pid when it runs, so a hook built before fork judges by the child's pid.
    """
    # The hook runs in the sample's process: a sample can mislead or silence it (patching os, say), as it
    # can claim a kind or keep one back on its socket. What it reports is only as trustworthy as that.
    kinds = watched.kinds
    note = reporter.note
    writes = wire.TAMPER_REFUSED_WRITE in kinds
    sockets = wire.TAMPER_REFUSED_SOCKET in kinds
    signals = wire.TAMPER_REFUSED_SIGNAL in kinds
    ptrace = wire.TAMPER_REFUSED_PTRACE in kinds
    where = _Places(watched, reporter)
    family_of = _socket_family()

    def outside(pid: int) -> bool:
        """Whether `pid` (> 0) is a process outside the sample that the sandbox keeps it from."""
        if pid == reporter.pid:
            return False
        if watched.pid_namespace:  # everything in it is the sample's but its init, the fork server
            return pid == 1
        return _refused(os.kill, pid)

    def group_outside(group: int) -> bool:
        if watched.pid_namespace:
            return group == 1
        return _refused(os.killpg, group)

    def check(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, flags = _text(args[0]), args[2]
            if path is None or not isinstance(flags, int):
                return
            if flags & WRITING:
                if writes and where.outside(path, follow=True):
                    note(wire.TAMPER_REFUSED_WRITE)
            elif ptrace:
                pid = where.guarded_proc_entry(path)
                if pid is not None and outside(pid):
                    note(wire.TAMPER_REFUSED_PTRACE)
        elif event == "socket.__new__":
            family = args[1]
            if sockets and isinstance(family, int) and family not in (AF_UNIX, -1):
                note(wire.TAMPER_REFUSED_SOCKET)
        elif event in SOCKET_EVENTS:
            if sockets and family_of is not None and family_of(args[0]) != AF_UNIX:
                note(wire.TAMPER_REFUSED_SOCKET)
        elif event in RESOLVE_EVENTS:
            if sockets and _text(args[0]):
                note(wire.TAMPER_REFUSED_SOCKET)
        elif event in ("os.kill", "os.killpg"):
            target, number = args[0], args[1]
            if not signals or not isinstance(target, int) or number == 0:  # 0 probes, it signals no one
                return
            if event == "os.killpg":
                target = -target if target > 0 else 0
            everyone = target == -1
            if everyone or (target > 0 and outside(target)) or (target < -1 and group_outside(-target)):
                note(wire.TAMPER_REFUSED_SIGNAL)
        elif event == "ctypes.dlsym":
            if ptrace and _text(args[1]) in PTRACE_SYMBOLS:
                note(wire.TAMPER_REFUSED_PTRACE)
        elif writes:
            _check_entries(event, args, where, note)

    watched_events = frozenset(
        (["socket.__new__", *SOCKET_EVENTS, *RESOLVE_EVENTS] if sockets else [])
        + (["open", "os.rename", "os.symlink", "os.link", *ENTRY_EVENTS] if writes else [])
        + (["os.kill", "os.killpg"] if signals else [])
        + (["open", "ctypes.dlsym"] if ptrace else [])
    )

    def hook(event: str, args: tuple[Any, ...], watched_events: frozenset[str] = watched_events) -> None:
        if event in watched_events:
            try:
                check(event, args)
            except Exception:  # a report is never worth breaking the sample's own operation
                pass

    return hook


def _check_entries(event: str, args: tuple[Any, ...], where: _Places, note: Callable[[str], None]) -> None:
    """Operations on directory entries: the entry's directory is what they write."""
    if event in ENTRY_EVENTS:
        fd_at = ENTRY_EVENTS[event]
        paths = [(args[0], args[fd_at] if fd_at >= 0 else -1)]
    elif event == "os.rename":  # (src, dst, src_dir_fd, dst_dir_fd)
        paths = [(args[0], args[2]), (args[1], args[3])]
    elif event == "os.symlink":  # (target, link, dir_fd): only the link is made
        paths = [(args[1], args[2])]
    else:  # os.link: (src, dst, src_dir_fd, dst_dir_fd)
        paths = [(args[1], args[3])]
    for raw, dir_fd in paths:
        path = _text(raw)
        if path is None:
            continue
        if isinstance(dir_fd, int) and dir_fd >= 0 and not path.startswith("/"):
            try:
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
            except OSError:
                continue
        if where.outside(path, follow=False):
            note(wire.TAMPER_REFUSED_WRITE)
            return


def _refused(kill: Callable[[int, int], None], target: int) -> bool:
    """Whether the kernel refuses this process a signal to `target`, probed with signal 0 (it sends none)."""
    try:
        kill(target, 0)
    except PermissionError:
        return True
    except OSError:  # no such process: nothing was there to protect
        return False
    return False


class _Places:
    """Where a path lands, for the hook: outside what a sample may write; a guarded /proc entry."""

    def __init__(self, watched: Watched, reporter: Reporter) -> None:
        self.writable = watched.writable
        self.devices = watched.devices
        self._reporter = reporter

    @property
    def own(self) -> tuple[str, ...]:
        """The sample's own /proc entries, which it may write: its pid is the reporter's."""
        return (f"/proc/{self._reporter.pid}", "/proc/self", "/proc/thread-self")

    def outside(self, path: str, *, follow: bool) -> bool:
        """Whether writing `path` (the file itself if `follow`, else its directory entry) is refused."""
        if "__pycache__" in path:  # the import system trying to cache bytecode beside a module
            return False
        if not path.startswith("/"):
            path = os.path.join(os.getcwd(), path)
        if follow:
            path = os.path.realpath(path)
        else:
            head, tail = os.path.split(os.path.normpath(path))
            path = os.path.join(os.path.realpath(head), tail)
        if path in self.devices:
            return False
        return not any(path == base or path.startswith(base + "/") for base in (*self.writable, *self.own))

    def guarded_proc_entry(self, path: str) -> int | None:
        """The pid of a ptrace-guarded /proc entry that `path` opens, or None."""
        if not path.startswith("/"):
            path = os.path.join(os.getcwd(), path)
        if not path.startswith("/proc/"):
            return None
        parts = os.path.normpath(path).split("/")  # ['', 'proc', pid, (task, tid,) entry, ...]
        if len(parts) < 4 or not parts[2].isdigit():
            return None
        entry = parts[5] if len(parts) > 5 and parts[3] == "task" else parts[3]
        return int(parts[2]) if entry in PTRACE_GUARDED else None


def _text(value: Any) -> str | None:
    """A str for a path or name given as str, bytes or a pathlib path, without running the sample's code."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__add__("", value)  # a plain copy: no method of a subclass runs
    if isinstance(value, bytes):
        return os.fsdecode(bytes.__add__(b"", value))
    if type(value).__module__.startswith("pathlib"):  # pathlib's own classes, not a subclass elsewhere
        return str(os.fspath(value))
    return None


def _socket_family() -> Callable[[Any], int] | None:
    """The raw family of a socket object, read past any property a subclass defines."""
    try:
        import _socket
    except ImportError:
        return None
    getter: Callable[[Any], int] = _socket.socket.family.__get__
    return getter
