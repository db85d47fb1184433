"""The child's audit hook and reporter, called directly: what counts as refused, and how kinds go out.

The hook is never installed here (an audit hook cannot be removed from the pytest process); its function
is called with the arguments CPython's events carry. End-to-end cases, in real sandboxes, are in
``test_tampering.py`` and ``test_redteam.py``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_humaneval.sandbox import refusals, wire

ALL = {"network": True, "writes": True, "signals": True}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def _messages(sock: socket.socket) -> list[dict[str, object]]:
    """Every message that has arrived on `sock` so far."""
    frames = wire.Frames()
    sock.setblocking(False)
    try:
        while chunk := sock.recv(1 << 16):
            frames.feed(chunk)
    except BlockingIOError:
        pass
    found = []
    while (message := frames.next()) is not None:
        found.append(message)
    return found


def _hook(scratch: Path, theirs: socket.socket) -> Callable[[str, tuple[Any, ...]], None]:
    """The hook a child without a PID namespace installs, whose scratch directory is `scratch`."""
    watched = refusals.plan(ALL, pid_namespace=False, writable=[str(scratch)], devices=["/dev/null"])
    assert watched is not None
    return refusals.hook(watched, refusals.Reporter(theirs.fileno()))


def test_only_the_kinds_whose_guarantee_holds_are_watched() -> None:
    assert refusals.plan({}, pid_namespace=True, writable=[], devices=[]) is None
    watched = refusals.plan({"network": True}, pid_namespace=True, writable=[], devices=[])
    assert watched is not None and watched.kinds == {wire.TAMPER_REFUSED_SOCKET}
    watched = refusals.plan({"signals": True}, pid_namespace=True, writable=[], devices=[])
    assert watched is not None and watched.kinds == {wire.TAMPER_REFUSED_SIGNAL, wire.TAMPER_REFUSED_PTRACE}


def test_writes_count_outside_the_writable_places_only(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = pair
    hook = _hook(tmp_path, theirs)
    directory = os.open(tmp_path, os.O_RDONLY)
    write = os.O_WRONLY | os.O_CREAT
    inside: list[tuple[str, tuple[Any, ...]]] = [
        ("open", (str(tmp_path / "a"), "w", write)),
        ("open", (os.fsencode(tmp_path / "b"), None, write)),
        ("open", (tmp_path / "c", "w", write)),  # a pathlib path, as Python 3.12's FileIO passes it
        ("open", ("/dev/null", "w", write)),
        ("open", (f"/proc/{os.getpid()}/comm", "w", os.O_WRONLY)),  # its own process's entries
        ("open", ("/usr/lib/__pycache__/x.cpython-311.pyc.123", None, write)),  # the import system's
        ("open", ("/etc/passwd", "r", os.O_RDONLY)),  # reading is no write
        ("open", (3, "w", os.O_WRONLY)),  # an fd: nothing opened by name
        ("os.remove", ("x", directory)),  # relative to a directory in scratch
        ("os.mkdir", (str(tmp_path / "d"), 0o777, -1)),
        ("os.rename", (str(tmp_path / "a"), str(tmp_path / "e"), -1, -1)),
        ("os.symlink", ("/etc/passwd", str(tmp_path / "link"), -1)),  # the link is made in scratch
        ("shutil.rmtree", (str(tmp_path / "d"), None)),
    ]
    for event, args in inside:
        hook(event, args)
    os.close(directory)
    assert _messages(ours) == []
    hook("os.rename", (str(tmp_path / "a"), "/etc/moved", -1, -1))
    hook("open", ("/etc/x", "w", write))  # the same kind again: sent once
    assert _messages(ours) == [{wire.TAMPERING: [wire.TAMPER_REFUSED_WRITE]}]


def test_the_hook_runs_no_code_of_the_sample_and_never_raises(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = pair
    ran = []

    class Sly(str):
        def startswith(self, *args: object) -> bool:
            ran.append("startswith")
            raise RuntimeError

        def __hash__(self) -> int:
            ran.append("hash")
            raise RuntimeError

    hook = _hook(tmp_path, theirs)
    hook("open", (Sly("/etc/x"), "w", os.O_WRONLY))
    hook("ctypes.dlsym", (None, Sly("ptrace")))
    hook("open", (object(), "w", os.O_WRONLY))  # not a path at all
    hook("open", ())  # malformed, as sys.audit() lets a sample make it
    hook("os.kill", ("1", 9))
    assert ran == []
    assert _messages(ours) == [
        {wire.TAMPERING: [wire.TAMPER_REFUSED_WRITE]},
        {wire.TAMPERING: [wire.TAMPER_REFUSED_PTRACE]},
    ]


def test_sockets_signals_and_ptrace(tmp_path: Path, pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    hook = _hook(tmp_path, theirs)
    unix = socket.socket(socket.AF_UNIX)
    with unix:
        for event, args in [
            ("socket.__new__", (unix, socket.AF_UNIX, socket.SOCK_STREAM, 0)),
            ("socket.__new__", (unix, -1, -1, -1)),  # from a file descriptor: its family is known later
            ("socket.connect", (unix, "/tmp/x")),
            ("socket.getaddrinfo", (None, 80, 0, 0, 0)),
            ("os.kill", (os.getpid(), 9)),  # itself: not outside
            ("os.kill", (1, 0)),  # a probe
            ("os.kill", (0, 9)),  # its own group
            ("open", (f"/proc/{os.getpid()}/mem", "r", os.O_RDONLY)),
            ("open", ("/proc/self/environ", "r", os.O_RDONLY)),
            ("ctypes.dlsym", (None, "getpid")),
        ]:
            hook(event, args)
        assert _messages(ours) == []
        hook("socket.__new__", (unix, socket.AF_INET6, socket.SOCK_DGRAM, 0))
        hook("os.kill", (-1, 18))
        hook("ctypes.dlsym", (None, b"process_vm_readv"))
    kinds = [m[wire.TAMPERING] for m in _messages(ours)]
    assert kinds == [[wire.TAMPER_REFUSED_SOCKET], [wire.TAMPER_REFUSED_SIGNAL], [wire.TAMPER_REFUSED_PTRACE]]


def test_a_kind_seen_while_a_reply_is_written_goes_out_ahead_of_the_next_reply(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    reporter = refusals.Reporter(theirs.fileno())
    big = wire.frame({wire.RETURN: "x" * (4 << 20)})  # more than the socket holds: its writer blocks
    writer = threading.Thread(target=reporter.send, args=(big,))
    writer.start()
    received = bytearray(ours.recv(1))  # the writer has started: it holds the socket
    reporter.note(wire.TAMPER_REFUSED_SIGNAL)  # returns at once, though the socket is busy
    while len(received) < len(big):
        received += ours.recv(1 << 20)
    writer.join()
    reporter.send(wire.READY_FRAME)
    frames = wire.Frames()
    frames.feed(bytes(received))
    messages = [frames.next(), *_messages(ours)]
    assert [sorted(m) for m in messages if m] == [[wire.RETURN], [wire.TAMPERING], [wire.READY]]
    assert messages[1] == {wire.TAMPERING: [wire.TAMPER_REFUSED_SIGNAL]}
