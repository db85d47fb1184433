"""Several samples at once in one pytest process: sandboxes that run ahead of pytest's item loop.

pytest runs items one after another. Without xdist that leaves every core but one idle while a sample's
child runs, and with xdist each worker is a whole pytest process, whose per-item bookkeeping (and the
controller's) costs about as much CPU as the samples themselves. A :class:`SamplePool` keeps ``jobs``
sandboxes, each with its own fork server, and runs the next few samples of the item list in threads
while pytest reports the current one. Each sample still runs alone in its own child; only the trusted
side (the dataset's test, which mostly waits on that child) shares this process, one thread per sample.

Verdicts do not change: every sample is judged by the same :meth:`Sandbox.run`, and an item reports only
its own sample's outcome, in pytest's order. Samples run ahead of an item that is never reached (``-x``,
Ctrl-C) are abandoned when the pool closes.
"""

from __future__ import annotations

import queue
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .sandbox import Outcome, Program, Sandbox

# How far ahead of the item pytest is running the pool starts samples, per job: enough to keep every
# sandbox busy while pytest reports, little enough that -x wastes almost nothing.
LOOKAHEAD_PER_JOB = 2
# While the pool runs, a thread whose candidate has answered takes the GIL back within this many seconds
# (Python's default is 5 ms). The wait counts as the candidate's time, so it is kept short.
SWITCH_INTERVAL = 0.0005


class SamplePool:
    """Runs programs on ``jobs`` sandboxes at once; results are taken back by key, each exactly once."""

    def __init__(self, sandboxes: list[Sandbox]) -> None:
        if not sandboxes:
            raise ValueError("a pool needs at least one sandbox")
        self.sandboxes = sandboxes
        self._free: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
        for sandbox in sandboxes:
            self._free.put(sandbox)
        self._executor = ThreadPoolExecutor(max_workers=len(sandboxes), thread_name_prefix="humaneval")
        self._pending: dict[str, Future[Outcome]] = {}
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))

    @property
    def jobs(self) -> int:
        return len(self.sandboxes)

    @property
    def lookahead(self) -> int:
        return self.jobs * LOOKAHEAD_PER_JOB

    def submit(self, key: str, program: Callable[[], Program]) -> None:
        """Start running the program (built on demand) unless it already runs under this key."""
        if key not in self._pending:
            self._pending[key] = self._executor.submit(self._run, program())

    def outcome(self, key: str, program: Callable[[], Program]) -> Outcome:
        """The outcome of the program under this key, waiting for it (and starting it if need be)."""
        self.submit(key, program)
        future = self._pending.pop(key)
        return future.result()

    def _run(self, program: Program) -> Outcome:
        sandbox = self._free.get()
        try:
            return sandbox.run(program)
        finally:
            self._free.put(sandbox)

    def close(self) -> None:
        """Drop samples not yet started, wait for those running (each ends within its limits), stop."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        for sandbox in self.sandboxes:
            sandbox.close()
        sys.setswitchinterval(self._switch_interval)
