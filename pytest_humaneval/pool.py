"""Several samples at once in one pytest process: sandboxes that run ahead of pytest's item loop.

pytest runs items one after another. Without xdist that leaves every core but one idle while a sample's
child runs, and with xdist each worker is a whole pytest process, whose per-item bookkeeping (and the
controller's) costs about as much CPU as the samples themselves. A :class:`SamplePool` keeps ``jobs``
sandboxes, each with its own fork server, and runs the samples of the item list ahead of pytest, in
threads, from a queue that reaches far enough past the current item (LOOKAHEAD_PER_JOB) that a sample
which takes its whole time limit never leaves the other sandboxes idle. Each sample still runs alone in
its own child; only the trusted side (the dataset's test, which mostly waits on that child) shares this
process, one thread per sample.

Verdicts do not change: every sample is judged by the same :meth:`Sandbox.run`, and an item reports only
its own sample's outcome, in pytest's order. Samples queued for items that are never reached (``-x``,
Ctrl-C) are dropped when the pool closes; only those already running are waited for.
"""

from __future__ import annotations

import queue
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .sandbox import Outcome, Program, Sandbox

# How far ahead of the item pytest is running the pool queues samples, per job. Only `jobs` of them run
# at once, and those not started when the pool closes (-x, Ctrl-C) are dropped, so a long queue costs
# only a few programs in memory (about 2 KB each). It must be long enough that the sandboxes never
# wait on a sample stuck at the head: one that times out holds its job for the whole limit (3 s) while
# pytest's item loop waits on it, and the other jobs judge a few hundred samples a second meanwhile. On
# CodeGen's samples of problems 0-29 (8 timeouts), 2 per job took 43.9 s, 32 per job 35.3 s, and 1,024
# per job 23.6 and 24.6 s (-n 2: 27.9 and 29.9 s).
LOOKAHEAD_PER_JOB = 1024
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
