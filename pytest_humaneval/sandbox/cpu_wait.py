"""How long a candidate waited for a CPU: time a busy machine took from it, which its limit does not count.

The kernel says exactly how long one thread has waited (``/proc/.../schedstat``), and two threads'
waits are the candidate's for certain: its main thread's, and the judge's (the thread in this process
that waits for the candidate's answers, which a busy machine may keep from reading one that has
arrived). A candidate whose other threads or child processes do the work (a thread pool, a subprocess)
waits in them instead, while its main thread sleeps, and their waits are lost when they end. For such a
candidate the machine's CPU pressure (``/proc/pressure/cpu``: the time in which some task waited for a
CPU), which approximately bounds any one task's waits from above, is taken where it is larger.

Whatever the source, no more is taken off than leaves the candidate charged with the CPU time its
processes used (except its main thread's own waits, which are exact): the load a fork bomb or a busy
loop puts on the machine is its own doing. A candidate of more than MAX_TREE processes, or of a
process with more than MAX_TREE threads, is charged all but its main thread's waits. Where the kernel
has no pressure figures (booted with ``psi=0``), the two threads' waits are all that is taken off.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

PRESSURE = "/proc/pressure/cpu"
# Processes walked for their CPU time, and threads in each: a larger tree gets no more than its main
# thread's waits (and the walk stays short: it runs only when a candidate is near its limit).
MAX_TREE = 64
_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Reading:
    """The wait counters at one moment."""

    own: float  # seconds the candidate's main thread has waited for a CPU since it started
    judge: float  # seconds the thread that took the reading has waited for a CPU since it started
    machine: float  # the machine's CPU-pressure total ("some"), in seconds; 0 where there is none
    at: float  # time.monotonic() when read


START = Reading(0.0, 0.0, 0.0, 0.0)  # before the candidate's pid is known: nothing to take off


@dataclass(frozen=True)
class Tree:
    """A candidate's process and its descendants, as they stand."""

    cpu: float  # seconds of CPU they have used, their reaped children's included
    alone: bool  # nothing but the main thread has ever run: no other thread, no child process


def read(pid: int | None) -> Reading:
    """The counters now, for the candidate's process `pid`, read in the judge's thread.

    With `pid` None (not known yet) there is nothing to take off, and nothing is read.
    """
    if pid is None:
        return START
    return Reading(
        _schedstat_wait(f"/proc/{pid}/schedstat"),
        _schedstat_wait("/proc/thread-self/schedstat"),
        _machine_stall(),
        time.monotonic(),
    )


def waited(since: Reading, now: Reading, found: Tree | None) -> float:
    """Seconds the candidate spent waiting for a CPU between two readings (see the module's text).

    `found` is its tree (:func:`tree`) as it stands at `now`.
    """
    if since is START:  # its pid was not known: nothing was read
        return 0.0
    own = max(0.0, now.own - since.own)
    if found is None:
        return own
    elapsed = now.at - since.at
    taken = own + max(0.0, now.judge - since.judge)
    if not found.alone:
        taken = max(taken, now.machine - since.machine)
    return max(own, min(taken, elapsed - found.cpu))


def tree(pid: int | None) -> Tree | None:
    """The process `pid` and its descendants; None when it is gone, unknown or larger than MAX_TREE allows."""
    if pid is None:
        return None
    try:
        root, children = _process(pid)
        main = _stat_fields(f"/proc/{pid}/task/{pid}/stat")
    except (OSError, IndexError, ValueError, _TooLarge):
        return None
    # After the state: utime and stime at [11] and [12], reaped children's at [13] and [14], threads at [17].
    alone = (
        int(root[17]) == 1
        and not children
        and int(root[13]) + int(root[14]) == 0
        and int(root[11]) + int(root[12]) == int(main[11]) + int(main[12])  # no thread has come and gone
    )
    ticks, seen, todo = _cpu_ticks(root), {pid}, children
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        if len(seen) == MAX_TREE:
            return None
        seen.add(current)
        try:
            fields, below = _process(current)
        except _TooLarge:
            return None
        except (OSError, IndexError, ValueError):
            continue  # a descendant that ended while we looked
        ticks += _cpu_ticks(fields)
        todo.extend(below)
    return Tree(ticks * _TICK, alone)


class _TooLarge(Exception):
    """More threads in one process than MAX_TREE."""


def _process(pid: int) -> tuple[list[bytes], list[int]]:
    """A process's ``stat`` fields and the pids of its children, of every thread."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if int(fields[17]) > MAX_TREE:
        raise _TooLarge
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
            children.extend(int(child) for child in f.read().split())
    return fields, children


def _cpu_ticks(fields: list[bytes]) -> int:
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def _stat_fields(path: str) -> list[bytes]:
    """The fields of a ``stat`` file after the command name (which may hold spaces): state is [0]."""
    with open(path, "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2 :].split()


def _schedstat_wait(path: str) -> float:
    """How long a thread has waited for a CPU while runnable (0 where not known)."""
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_stall() -> float:
    try:
        with open(PRESSURE, "rb") as f:
            some = f.readline()
        return int(some.rsplit(b"total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


__all__ = ["MAX_TREE", "START", "Reading", "Tree", "read", "tree", "waited"]
