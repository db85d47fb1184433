"""One unprivileged uid per fork server that runs at the same time, for a server that starts as root.

Samples of two sandboxes running at once (``--humaneval-jobs``, xdist workers, two pytest runs on one
machine) must not share a uid: the kernel lets a process signal and trace any process of its own uid.
Each server claims a uid from a range no account uses, by holding an exclusive ``flock`` on a lock file
named after it, for as long as it lives; the kernel drops the lock when the server dies, however it
dies. The lock files live in a root-only directory, so a sample cannot open them to hold their locks.

Stdlib only and no relative imports: the fork server imports this file as a top-level module.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import stat

FIRST_UID = 1_900_000_000  # far above any range useradd or /etc/subuid hands out by default
COUNT = 4096
LOCK_DIR = "/run/pytest-humaneval-uids"
FALLBACK_LOCK_DIR = "/tmp/.pytest-humaneval-uids"  # where /run is missing or read-only


class Claimed:
    """A uid claimed for this process's lifetime (or until :meth:`release`); gid is the same number."""

    def __init__(self, uid: int, lock_fd: int) -> None:
        self.uid = uid
        self.gid = uid
        self._lock_fd = lock_fd

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _lock_dir() -> str:
    for directory in (LOCK_DIR, FALLBACK_LOCK_DIR):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        st = os.lstat(directory)
        # Ours alone: a directory someone else made could hand out locks they hold, or swap the files.
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o077:
            return directory
    raise OSError(0, f"no private lock directory for sandbox uids ({LOCK_DIR}, {FALLBACK_LOCK_DIR})")


def _in_use(uid: int, running: set[int]) -> bool:
    try:
        pwd.getpwuid(uid)
        return True  # an account of this machine
    except KeyError:
        return uid in running


def _running_uids() -> set[int]:
    """Real uids of the processes alive now: a uid held by a process that outlived its server is taken."""
    uids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                uids.add(os.stat(f"/proc/{name}").st_uid)
            except OSError:
                continue
    return uids


def claim() -> Claimed:
    """Claim a free uid; OSError when none can be had (not root, no lock directory, all taken)."""
    if os.geteuid() != 0:
        raise OSError(0, "a uid per sandbox needs root")
    directory = _lock_dir()
    running = _running_uids()
    for uid in range(FIRST_UID, FIRST_UID + COUNT):
        if _in_use(uid, running):
            continue
        fd = os.open(os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Claimed(uid, fd)
    raise OSError(0, f"all {COUNT} sandbox uids from {FIRST_UID} are taken")
