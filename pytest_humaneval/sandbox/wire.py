"""The sandbox's wire, defined once: the trusted side and the fork server both import this module.

Every message is a frame: a 4-byte big-endian length, then that many bytes of JSON, an object. Two
conversations use it:

* the control socket, between the trusted side (:mod:`.client`) and the fork server: the server's first
  frame is ``{ISOLATION: report}``; then per sample the client sends a run request, the server answers
  ``{COMPILED: false, TYPE, MESSAGE, LINE}`` or ``{COMPILED: true}`` with the trusted end of a fresh
  socket attached (SCM_RIGHTS); when the trusted side is done it sends ``{FINISH: true, LOST: bool}``
  and the server answers ``{EXIT: "how the child ended"}``;
* the candidate's socket, between the trusted judge (:mod:`.judge`) and the child: the child sends
  ``{HELLO}``, then ``{READY}`` or ``{ERROR: exception}``; then for each call ``{ARGS, KWARGS}`` the child
  answers ``{RETURN: value}``, ``{RAISE: exception}`` or ``{UNPLAIN: why}`` (the value is not plain
  data). A value may hold iterators' handles; for each ``{NEXT: handle}`` the child answers with the
  iterator's next item as ``{RETURN: value}``, ``{EXHAUSTED}``, ``{RAISE}`` or ``{UNPLAIN}``. Any
  message from the child may carry ``OUT``, what the candidate printed since its last message. Values
  are trees of :mod:`._plain`. At any time the child may also send ``{TAMPERING: [kind, ...]}``,
  refusals seen inside the sandbox (see below). A batch ``{BATCH: [args, ...]}`` calls the entry point
  once per argument list, in order; the child streams one ``{RETURN}`` or ``{RAISE}`` per call, a RETURN
  with ``FOREIGN: true`` when the value was not of a builtin type before it became plain data (a NumPy
  scalar, a subclass); a long list or tuple of numbers that floats hold exactly comes as
  ``{PACKED: base64 of float64s, SEQUENCE: "l" or "t"}`` instead.

Stdlib only and no relative imports: the fork server runs as a script and imports this file as a
top-level module, before its checkout is hidden from it.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

# ---------------------------------------------------------------------------- limits both sides apply

MAX_FRAME = 8 * 1024 * 1024  # bytes of one frame's JSON
# Bytes of one answer to a batched call: HumanEval+'s expected outputs reach millions of items.
MAX_ANSWER_FRAME = 256 * 1024 * 1024
MAX_TEXT = 2000  # characters of an exception's message kept
MAX_ITERATED = MAX_FRAME  # bytes of frames the items of a sample's iterators may take in all: an answer's
# A sample's time counts only while it runs, not while it waits for a CPU on a busy machine; this
# factor bounds the wall-clock time it may take all the same, and sets the child's CPU-time backstop.
WALL_FACTOR = 4.0
CANDIDATE_NAME = "<candidate>"  # the file name the candidate's source is compiled under

# ---------------------------------------------------------------------------- message keys

# The trusted side to the fork server.
SOURCE = "source"
ENTRY_POINT = "entry_point"
TIMEOUT = "timeout"
MEMORY = "memory"
OUTPUT_LIMIT = "output_limit"
FINISH = "finish"
LOST = "lost"  # with FINISH: the trusted side saw the child hang up; it may need a moment to die
# The fork server to the trusted side.
ISOLATION = "isolation"
COMPILED = "compiled"
EXIT = "exit"
# The child to the trusted side.
HELLO = "hello"
READY = "ready"
ERROR = "error"  # running the candidate's module raised
RETURN = "return"
RAISE = "raise"
UNPLAIN = "unplain"  # the answer is no plain data (see _plain): why, in words
EXHAUSTED = "exhausted"  # the iterator raised StopIteration
OUT = "out"
# The trusted side to the child.
ARGS = "args"
KWARGS = "kwargs"
NEXT = "next"  # the handle of an iterator of the child's whose next item the trusted side wants
BATCH = "batch"  # many calls at once: a list of argument lists
FOREIGN = "foreign"  # with RETURN from a batch: the value's type was not a builtin one
PACKED = "packed"  # instead of RETURN: a long sequence of numbers, as base64 of native float64s
SEQUENCE = "sequence"  # with PACKED: "l" for a list, "t" for a tuple
# The isolation report, under ISOLATION: each layer is true only once its last step succeeded (the id
# maps written, the new root pivoted into, a probe child refused what the layer stops); NOTES say what
# is missing, in words. The rest is the fork server's own record of where samples run.
USER = "user"  # the namespaces
NETWORK = "network"
PID = "pid"
FILESYSTEM = "filesystem"
NAMESPACES = (USER, NETWORK, PID, FILESYSTEM)
SANDBOX_USER = "sandbox_user"  # without a user namespace: a uid of this sandbox's own (started as root)
NO_NEW_PRIVS = "no_new_privs"
LANDLOCK = "landlock"  # the Landlock ABI whose every part held, 0 without Landlock
SECCOMP = "seccomp"
LAYERS = (*NAMESPACES, SANDBOX_USER, NO_NEW_PRIVS, LANDLOCK, SECCOMP)
NOTES = "notes"
UID = "uid"
GID = "gid"
TMP = "tmp"
SCRATCH = "scratch"
KEEP = "keep"
# An exception, under ERROR, RAISE or a failed compile.
TYPE = "type"
BUILTIN = "builtin"  # its class is one of Python's builtins: the trusted side may rebuild it
MESSAGE = "message"
LINE = "line"  # in the candidate's source, or None


# ---------------------------------------------------------------------------- tampering

# What a sample tried that the sandbox saw, as stable names (an outcome's `tampering`). The trusted side
# sees the first three for itself, on the candidate's socket. The refused_* kinds can only be seen where
# the refusal happens, inside the sandbox: the child's audit hook (see refusals) sends each in a
# {TAMPERING: [kinds]} message on the child's socket, between any two other messages. A kind reported
# from inside is only as trustworthy as the child that sent it: a sample can claim it, or, having taken
# its socket over, keep it back.
TAMPERING = "tampering"
TAMPER_EXIT = "ended_early"
TAMPER_NOT_PLAIN = "not_plain"
TAMPER_CHANNEL = "channel"
TAMPER_REFUSED_SOCKET = "refused_socket"
TAMPER_REFUSED_WRITE = "refused_write"
TAMPER_REFUSED_SIGNAL = "refused_signal"
TAMPER_REFUSED_PTRACE = "refused_ptrace"
TAMPER_KINDS = {
    TAMPER_EXIT: "ended its process, or tried to, before the check finished, while loading or during a "
    "call: sys.exit(), exit(), KeyboardInterrupt, os._exit(), a signal to itself, closing its socket "
    "(a crash of the interpreter itself looks the same)",
    TAMPER_NOT_PLAIN: "returned a value that cannot cross the sandbox boundary as plain data "
    "(an object of its own class, such as one whose __eq__ always says yes)",
    TAMPER_CHANNEL: "sent the judge malformed or unexpected data on its socket",
    TAMPER_REFUSED_SOCKET: "was refused a network socket",
    TAMPER_REFUSED_WRITE: "was refused a write outside its scratch directory",
    TAMPER_REFUSED_SIGNAL: "was refused a signal to a process outside the sample",
    TAMPER_REFUSED_PTRACE: "was refused ptrace or another process's memory",
}
REPORTED_FROM_INSIDE = frozenset(
    (TAMPER_REFUSED_SOCKET, TAMPER_REFUSED_WRITE, TAMPER_REFUSED_SIGNAL, TAMPER_REFUSED_PTRACE)
)


# ---------------------------------------------------------------------------- framing

_HEADER = struct.Struct(">I")


class FrameError(ValueError):
    """A frame that breaks the protocol."""


class FrameTooLarge(FrameError):
    """A frame announced as larger than MAX_FRAME."""


class MalformedFrame(FrameError):
    """A frame whose payload is not a JSON object."""


def frame(message: dict[str, Any]) -> bytes:
    """The bytes of one message on the wire."""
    data = json.dumps(message).encode()
    return _HEADER.pack(len(data)) + data


class Frames:
    """Splits a byte stream into messages; the caller reads the bytes, in whichever way suits it."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.last_size = 0  # bytes of the latest message that next() returned, its header included
        self.limit = limit

    def feed(self, chunk: bytes) -> None:
        """Add bytes read from the stream."""
        self._buffer += chunk

    def next(self) -> dict[str, Any] | None:
        """The next whole message, or None until more bytes arrive.

        Raises FrameTooLarge as soon as a header announces more than `limit` bytes, and MalformedFrame
        for a payload that is not a JSON object.
        """
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        (size,) = _HEADER.unpack_from(buffer)
        if size > self.limit:
            raise FrameTooLarge(f"a frame of {size} bytes is larger than {self.limit}")
        end = 4 + size
        if len(buffer) < end:
            return None
        payload = buffer[4:end]
        del buffer[:end]
        self.last_size = end
        try:
            message = json.loads(payload)
        except (ValueError, RecursionError):
            raise MalformedFrame("a frame is not JSON") from None
        if not isinstance(message, dict):
            raise MalformedFrame("a frame is not a JSON object")
        return message

    def read(self, fd: int) -> dict[str, Any]:
        """The next message from a blocking file descriptor; EOFError when it closes first."""
        while True:
            message = self.next()
            if message is not None:
                return message
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            self.feed(chunk)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to a blocking file descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# ---------------------------------------------------------------------------- messages


def run_request(
    source: str, entry_point: str, timeout: float, memory: int | None, output_limit: int
) -> dict[str, Any]:
    """The trusted side asks the fork server to run one candidate."""
    return {
        SOURCE: source,
        ENTRY_POINT: entry_point,
        TIMEOUT: timeout,
        MEMORY: memory,
        OUTPUT_LIMIT: output_limit,
    }


def finish(lost: bool) -> dict[str, Any]:
    """The trusted side is done with the candidate: the server may kill everything it started."""
    return {FINISH: True, LOST: lost}


def new_report() -> dict[str, Any]:
    """An isolation report with every layer off and no notes yet."""
    report: dict[str, Any] = dict.fromkeys(LAYERS, False)
    report[LANDLOCK] = 0
    report[NOTES] = []
    return report


def isolation(report: dict[str, Any]) -> dict[str, Any]:
    """The fork server's first message: which layers of confinement it achieved."""
    return {ISOLATION: report}


def not_compiled(type_name: str, message: str, line: int | None = None) -> dict[str, Any]:
    """The candidate's source does not compile."""
    return {COMPILED: False, TYPE: type_name, MESSAGE: message, LINE: line}


def exited(how: str) -> dict[str, Any]:
    """How the candidate's process ended, in words."""
    return {EXIT: how}


def exception(type_name: str, builtin: bool, message: str, line: int | None) -> dict[str, Any]:
    """An exception the candidate raised, as plain data."""
    return {TYPE: type_name, BUILTIN: builtin, MESSAGE: message, LINE: line}


def error(info: dict[str, Any], out: str | None = None) -> dict[str, Any]:
    """Running the candidate's module raised `info` (see `exception`)."""
    return {ERROR: info} if out is None else {ERROR: info, OUT: out}


def ready(out: str) -> dict[str, Any]:
    """The candidate's module ran and its entry point exists."""
    return {READY: True, OUT: out} if out else {READY: True}


def call(args: Any, kwargs: Any) -> dict[str, Any]:
    """The trusted side calls the entry point with plain-data trees of its arguments."""
    return {ARGS: args, KWARGS: kwargs}


def batch(calls: list[Any]) -> dict[str, Any]:
    """The trusted side calls the entry point once per plain-data tree of positional arguments."""
    return {BATCH: calls}


def returned(value: Any, out: str) -> dict[str, Any]:
    """The entry point returned the plain-data tree `value`."""
    return {RETURN: value, OUT: out}


def raised(info: dict[str, Any], out: str) -> dict[str, Any]:
    """The entry point raised `info` (see `exception`)."""
    return {RAISE: info, OUT: out}


def tampered(kinds: list[str]) -> dict[str, Any]:
    """From inside the sandbox: the sample was refused what `kinds` name (see REPORTED_FROM_INSIDE)."""
    return {TAMPERING: kinds}


def unplain(why: str, out: str) -> dict[str, Any]:
    """The entry point's answer cannot cross as plain data."""
    return {UNPLAIN: why, OUT: out}


def next_item(handle: int) -> dict[str, Any]:
    """The trusted side asks for the next item of the child's iterator `handle`."""
    return {NEXT: handle}


def exhausted(out: str) -> dict[str, Any]:
    """The iterator has no more items."""
    return {EXHAUSTED: True, OUT: out}


# Frames every sample sends or receives, made once here rather than in each child.
COMPILED_FRAME = frame({COMPILED: True})
HELLO_FRAME = frame({HELLO: True})
READY_FRAME = frame(ready(""))
