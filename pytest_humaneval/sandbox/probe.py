"""Detect by doing: which confinement layers a sample's child really gets, found by a child that tries.

The fork server prepares each layer it can (:func:`prepare`: claim a uid, build the Landlock ruleset,
compile the seccomp filter), then forks one probe child that applies them in the order every sample's
child will (:func:`confine.confine_sample`'s) and tries what each should stop: a write outside scratch,
a TCP connection, a signal to the server, an ``AF_INET`` socket, an ``unshare``. A layer counts only when
its setup completed *and* its test was refused; the server keeps exactly those (:func:`verify`) and
records each in the isolation report, with a note in words for each one that is missing.

Stdlib only, and its companions imported as top-level modules when the fork server runs it as one.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:
    from . import confine, landlock_rules, seccomp_filter, uids, wire
else:
    import confine
    import landlock_rules
    import seccomp_filter
    import uids
    import wire

# What a sample may read besides Python and the system's libraries, and the devices it may use.
ETC_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/localtime")
READ_ONLY = ("/proc", "/sys/devices/system/cpu", "/usr/share/zoneinfo")
DEVICES = tuple(f"/dev/{name}" for name in confine.DEVICES)
SHARED_MEMORY = "/dev/shm"  # POSIX semaphores (multiprocessing's locks) are files here
CLONE_NEWUSER = 0x10000000


class Prepared:
    """The layers the server could set up, before any child has tried them."""

    def __init__(self) -> None:
        self.claimed: uids.Claimed | None = None
        self.landlock: int | None = None
        self.abi = 0
        self.seccomp: seccomp_filter.Compiled | None = None
        self.notes: list[str] = []
        self.needed: list[str] = []  # what a sample's interpreter reads: the sandbox's uid must too

    def layers(self, uid: int | None, gid: int | None) -> confine.Layers:
        if self.claimed is not None:
            uid, gid = self.claimed.uid, self.claimed.gid
        return confine.Layers(uid, gid, self.landlock, self.seccomp)


def prepare(
    *, own_uid: bool, landlock: bool, scratch: str, python_paths: list[str], hide: list[str]
) -> Prepared:
    """Set up what the kernel allows: a uid of its own (`own_uid`, as root), Landlock, seccomp."""
    prepared = Prepared()
    prepared.needed = [p for p in python_paths if os.path.exists(p)]
    if own_uid:
        try:
            prepared.claimed = uids.claim()
        except OSError as exc:
            prepared.notes.append(f"no uid per sandbox ({exc.strerror or exc})")
    if landlock:
        prepared.abi = landlock_rules.abi()
        if prepared.abi < 1:
            prepared.notes.append("no Landlock (the kernel has none, or it is disabled; it needs Linux 5.13)")
        else:
            read = landlock_rules.without(
                [*confine.SYSTEM_PATHS, *python_paths, *ETC_FILES, *READ_ONLY], hide
            )
            try:
                prepared.landlock = landlock_rules.build_ruleset(
                    prepared.abi, read, [scratch, SHARED_MEMORY], DEVICES
                )
            except OSError as exc:
                prepared.notes.append(f"no Landlock ({exc.strerror or exc})")
    scope = prepared.landlock is not None and prepared.abi >= landlock_rules.SCOPE_ABI
    prepared.seccomp, why = seccomp_filter.compile_filter(scope_signals=scope)
    if why:
        prepared.notes.append(why)
    seccomp_filter.prepare()
    return prepared


def verify(
    prepared: Prepared, uid: int | None, gid: int | None, scratch: str, outside: str
) -> dict[str, Any]:
    """Fork a child that applies the prepared layers and tries to get past each; what held, by name.

    The answer has a key per layer of the report (wire.SANDBOX_USER, NO_NEW_PRIVS, LANDLOCK, SECCOMP) and
    NOTES: what failed, in words. `outside` is a directory the child must not be able to write to.
    """
    if prepared.claimed is not None:
        # The uid first, alone: a child that has become a uid that cannot read Python can test nothing else.
        alone = _in_child(lambda: _try_uid(prepared))
        if not alone.get(wire.SANDBOX_USER):
            prepared.notes.extend(alone.get(wire.NOTES, []))
            prepared.claimed.release()
            prepared.claimed = None
    answer = _in_child(lambda: _try_layers(prepared, uid, gid, scratch, outside))
    return answer


def _in_child(attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `attempt` in a forked child and return what it returned (JSON), or a note that it died."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            result = attempt()
        except BaseException as exc:
            result = {wire.NOTES: [f"the probe of the sandbox's layers failed ({exc!r})"]}
        wire.write_all(write_fd, json.dumps(result).encode())
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    try:
        answer: dict[str, Any] = json.loads(b"".join(chunks))
    except ValueError:
        answer = {wire.NOTES: ["the probe of the sandbox's layers died"]}
    return answer


def _refused(action: Any, *errnos: int) -> bool:
    try:
        action()
    except OSError as exc:
        return exc.errno in (errnos or (errno.EPERM, errno.EACCES))
    return False


def _try_layers(
    prepared: Prepared, uid: int | None, gid: int | None, scratch: str, outside: str
) -> dict[str, Any]:
    """In the probe child: the same steps as a sample's, each followed by a test of what it stops."""
    notes: list[str] = []
    result: dict[str, Any] = {wire.NOTES: notes}
    os.setsid()
    confine.die_with_parent()
    layers = prepared.layers(uid, gid)
    server = os.getppid()
    if prepared.claimed is not None:
        result.update(_try_uid(prepared))
        if not result.get(wire.SANDBOX_USER):
            return result
    elif uid is not None:  # the namespace's sandbox user
        confine._drop_privileges(uid, gid)
    try:
        confine.set_no_new_privs()
        result[wire.NO_NEW_PRIVS] = confine.has_no_new_privs()
    except OSError as exc:
        notes.append(f"no no_new_privs ({exc.strerror})")
    if layers.landlock is not None:
        result[wire.LANDLOCK] = _try_landlock(prepared.abi, layers.landlock, scratch, outside, server, notes)
    if layers.seccomp is not None:
        try:
            seccomp_filter.install(layers.seccomp)
        except OSError as exc:
            notes.append(f"no seccomp filter ({exc.strerror})")
        else:
            unshare = ctypes.CDLL(None, use_errno=True).unshare

            def unshare_user() -> None:
                if unshare(CLONE_NEWUSER) != 0:
                    raise OSError(ctypes.get_errno(), "unshare")

            if _refused(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()) and _refused(
                unshare_user
            ):
                result[wire.SECCOMP] = True
            else:
                notes.append(
                    "no seccomp filter (it was installed, but an AF_INET socket or unshare got through)"
                )
    return result


def _try_uid(prepared: Prepared) -> dict[str, Any]:
    """Become the claimed uid; it holds when it reads all Python needs and cannot signal the server."""
    assert prepared.claimed is not None
    uid, gid = prepared.claimed.uid, prepared.claimed.gid
    server = os.getppid()
    try:
        confine._drop_privileges(uid, gid)
    except OSError as exc:
        return {wire.NOTES: [f"no uid per sandbox (changing to uid {uid} failed: {exc.strerror})"]}
    unreadable = [p for p in prepared.needed if not os.access(p, os.R_OK | os.X_OK)]
    if unreadable:
        return {wire.NOTES: [f"no uid per sandbox (uid {uid} cannot read {unreadable[0]})"]}
    if os.getuid() != uid or os.getgroups() or not _refused(lambda: os.kill(server, 0)):
        return {wire.NOTES: [f"no uid per sandbox (uid {uid} can still signal the server)"]}
    return {wire.SANDBOX_USER: True, wire.NOTES: []}


def _try_landlock(abi: int, ruleset: int, scratch: str, outside: str, server: int, notes: list[str]) -> int:
    """Enter the domain and test it; the ABI whose every part held, or 0."""
    try:
        landlock_rules.restrict_self(ruleset)
    except OSError as exc:
        notes.append(f"no Landlock ({exc.strerror})")
        return 0
    probe_file = os.path.join(scratch, ".landlock-probe")
    try:
        with open(probe_file, "w") as f:
            f.write("x")
        os.unlink(probe_file)
        with open(sys.executable, "rb") as binary:
            binary.read(1)
    except OSError as exc:
        notes.append(f"no Landlock (it refused what a sample needs: {exc})")
        return 0
    if not _refused(lambda: open(os.path.join(outside, ".landlock-probe"), "w").close()):
        notes.append("no Landlock (a write outside scratch got through)")
        return 0
    held = min(abi, landlock_rules.NET_ABI - 1)
    if abi >= landlock_rules.NET_ABI:

        def connect() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.connect(("127.0.0.1", 9))

        if not _refused(connect, errno.EACCES):
            notes.append("Landlock did not refuse a TCP connection")
            return held
        held = min(abi, landlock_rules.SCOPE_ABI - 1)
    if abi >= landlock_rules.SCOPE_ABI:
        if not _refused(lambda: os.kill(server, 0)):
            notes.append("Landlock did not scope signals")
            return held
        held = abi
    return held
