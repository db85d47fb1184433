"""The trusted side of batched calls: many inputs sent at once, answers judged as they stream back.

With hundreds of inputs per sample, a round trip per call would cost more than the calls. The inputs go
to the child in batches (:data:`.wire.BATCH`), a few batches ahead of its answers so it never waits for
the next one; the child answers each call as soon as it returns, and each answer is judged here, by the
part's :class:`~.program.Checker`, the moment it arrives. The first wrong answer, exception or overrun
ends the part; the client then has the child killed.

Time is this side's: input i's clock starts when answer i-1 arrives (the first when the module is
ready), so a candidate cannot hide a slow call by what it reports. Time spent waiting for a CPU on a busy
machine is not counted, as for a whole sample (see :mod:`.judge`).
"""

from __future__ import annotations

import array
import base64
import select
import socket
import time
from typing import Any

from . import cpu_wait, wire
from ._plain import NotPlainData, from_tree
from .judge import ENDS_THE_PROCESS, _Channel, _outcome, _Stop, ready, with_tampering
from .limits import Limits
from .outcome import Outcome, OutcomeKind
from .program import CallPart, Program

AHEAD = 64  # inputs sent ahead of the one the child is answering, so it never waits for the next
QUEUE_REFRESH = 0.05  # seconds between reads of the child's time spent waiting for a CPU


def judge_part(
    program: Program, part: CallPart, sock: socket.socket, limits: Limits, start: float
) -> Outcome:
    """Call the candidate at the other end of `sock` on every input of `part`; closes `sock`.

    `limits.timeout` is the part's budget; each input also has its own limit (``part.limits``).
    """
    channel = _Channel(sock, limits)
    try:
        failed = ready(program, channel, start)
        outcome = failed if failed is not None else _Calls(program, part, channel, start).run()
    except _Stop as stop:
        outcome = Outcome(
            kind=stop.kind, message=stop.message, stdout=channel.output, duration=time.monotonic() - start
        )
    finally:
        channel.collect_notes()
        channel.close()
    return with_tampering(outcome, channel)


class _Calls:
    """One run over a part's inputs: sends batches ahead, times and judges each answer as it arrives."""

    def __init__(self, program: Program, part: CallPart, channel: _Channel, start: float) -> None:
        self.program = program
        self.part = part
        self.channel = channel
        self.start = start
        self.checker = part.checker()
        self.frames = part.frames()
        self.sent = 0  # batches handed over so far
        self.covered = 0  # inputs in them
        self.outbound = bytearray()
        self.budget_end = channel.started + channel.limits.timeout
        channel._frames.limit = wire.MAX_ANSWER_FRAME  # answers may hold millions of items
        # The counters of time spent waiting for a CPU (cpu_wait), read at most every QUEUE_REFRESH seconds.
        self.waits_read_at = time.monotonic()
        self.waits = channel.waits_at_start
        self.call_waits = self.waits  # their value when the current call started (or a little before)

    def run(self) -> Outcome:
        index = 0
        began = time.monotonic()
        while index < self.part.count:
            while self.sent < len(self.frames) and self.covered <= index + AHEAD:
                frame, calls = self.frames[self.sent]
                self.outbound += frame
                self.covered += calls
                self.sent += 1
            reply = self._next_answer(index, began)
            began = time.monotonic()
            failure = self._judge(index, reply)
            if failure is not None:
                return failure
            if began - self.waits_read_at > QUEUE_REFRESH:
                self.waits, self.waits_read_at = cpu_wait.read(self.channel.pid), began
            self.call_waits = self.waits
            index += 1
        return Outcome(kind="passed", stdout=self.channel.output, duration=time.monotonic() - self.start)

    def _judge(self, index: int, reply: dict[str, Any]) -> Outcome | None:
        where = f"{self.part.name} input #{index + 1} of {self.part.count}"
        if wire.RETURN in reply or wire.PACKED in reply:
            try:
                value = from_tree(reply[wire.RETURN]) if wire.RETURN in reply else _unpack(reply)
            except NotPlainData as exc:
                self.channel.tampering.add(wire.TAMPER_NOT_PLAIN)
                return self._ended("error", f"{where}: {exc}", "TypeError")
            why = self.checker.mismatch(index, value, reply.get(wire.FOREIGN) is not True)
            if why is None:
                return None
            shown = _short(repr(value), 120)
            return self._ended(
                "failed", f"{where}, {self.checker.describe(index)}: returned {shown}, which {why}"
            )
        if wire.UNPLAIN in reply:  # as in the judge: an answer that cannot cross, not the candidate's error
            self.channel.tampering.add(wire.TAMPER_NOT_PLAIN)
            why = f"{where}, {self.checker.describe(index)}: {reply[wire.UNPLAIN]!s}"
            return self._ended("error", why, "TypeError")
        info = reply.get(wire.RAISE)
        if not isinstance(info, dict):
            raise _Stop("error", "the candidate's process sent something unexpected")
        kind: OutcomeKind = "crashed" if info.get(wire.TYPE) in ENDS_THE_PROCESS else "error"
        info = {
            **info,
            wire.MESSAGE: f"{where}, {self.checker.describe(index)}: {info.get(wire.MESSAGE, '')}",
        }
        return _outcome(self.program, kind, info, self.start, remote=True, stdout=self.channel.output)

    def _ended(self, kind: OutcomeKind, message: str, error_type: str = "") -> Outcome:
        return Outcome(
            kind=kind,
            message=message[: wire.MAX_TEXT],
            error_type=error_type,
            stdout=self.channel.output,
            duration=time.monotonic() - self.start,
        )

    def _next_answer(self, index: int, began: float) -> dict[str, Any]:
        """The answer to input `index`, whose call started at `began`; _Stop on an overrun or a crash."""
        channel = self.channel
        limit = self.part.limits[index]
        while True:
            message = channel._take_frame()
            if message is not None:
                return message
            now = time.monotonic()
            left = min(began + limit - now, self.budget_end - now)
            if left <= 0:
                left = self._left_after_queue(index, began, limit, now)
            writing = [channel.sock] if self.outbound else []
            readable, writable, _ = select.select([channel.sock], writing, [], left)
            if writable:
                self._send_some()
            if readable:
                channel._read_some()

    def _left_after_queue(self, index: int, began: float, limit: float, now: float) -> float:
        """Seconds left once time spent waiting for a CPU is taken off; _Stop when none are."""
        pid = self.channel.pid
        waits, found = cpu_wait.read(pid), cpu_wait.tree(pid)  # the tree is walked once for both
        left_call = began + limit + cpu_wait.waited(self.call_waits, waits, found) - now
        left_part = self.budget_end + cpu_wait.waited(self.channel.waits_at_start, waits, found) - now
        if left_call <= 0:
            raise _Stop(
                "timeout",
                f"{self.part.name} input #{index + 1} of {self.part.count}, {self.checker.describe(index)}: "
                f"did not return within {limit:g} s",
            )
        if left_part <= 0:
            raise _Stop(
                "timeout",
                f"the {self.part.name} inputs did not finish within {self.channel.limits.timeout:g} s "
                f"(input #{index + 1} of {self.part.count} was running)",
            )
        return min(left_call, left_part)

    def _send_some(self) -> None:
        try:
            sent = self.channel.sock.send(self.outbound)
        except (BlockingIOError, TimeoutError):
            return
        except OSError:
            raise _Stop("crashed", "") from None
        del self.outbound[:sent]


def _unpack(reply: dict[str, Any]) -> list[float] | tuple[float, ...]:
    """A sequence of numbers that crossed packed (see the fork server's _packed)."""
    try:
        data = base64.b64decode(reply[wire.PACKED], validate=True)
        numbers = array.array("d")
        numbers.frombytes(data)
    except (TypeError, ValueError) as exc:
        raise NotPlainData(f"malformed data from the sandbox: {exc}") from None
    kind = reply.get(wire.SEQUENCE)
    if kind not in ("l", "t"):
        raise NotPlainData("malformed data from the sandbox: a packed value is neither a list nor a tuple")
    items = numbers.tolist()
    return items if kind == "l" else tuple(items)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
