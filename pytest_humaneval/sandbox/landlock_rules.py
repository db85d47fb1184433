"""Landlock, through its three system calls: read-only access to what Python needs, writes only to scratch.

A ruleset is built once, in the fork server (:func:`build_ruleset`), and each sample's child enters it
(:func:`restrict_self`), after ``no_new_privs``; a domain, once entered, holds for the child and all it
starts. What the ruleset handles grows with the kernel's ABI, and is cut to what the kernel knows:

* ABI 1 (Linux 5.13): file-system access, reads and writes beneath the paths allowed;
* ABI 2 (5.19) renames and links across directories; ABI 3 (6.2) truncation; ABI 5 (6.10) device ioctls;
* ABI 4 (6.7): TCP bind and connect, refused outright (no port is allowed);
* ABI 6 (6.12): signals and abstract unix sockets scoped to the domain, so a sample can signal or reach
  only itself and its own descendants.

Landlock also applies its ptrace check to ``/proc/<pid>/environ`` and ``mem`` of processes outside the
domain. No PyPI binding covers the network and scope parts (``landlock`` 1.0.0.dev5 handles the file
system only), so these few structures are written here, with ctypes.

Stdlib only and no relative imports: the fork server imports this file as a top-level module.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Iterable

# System call numbers: the same on every architecture (they came after the tables were unified).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the rights a rule on a file may hold
READ = EXECUTE | READ_FILE | READ_DIR
NET_ABI, SCOPE_ABI = 4, 6


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
_SYSCALL = getattr(_LIBC, "syscall", None)


def abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing, disabled, or this is not Linux."""
    if _SYSCALL is None or not sys.platform.startswith("linux"):  # 444 is another call elsewhere
        return 0
    version = int(_SYSCALL(SYS_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION))
    return max(version, 0)


def fs_rights(version: int) -> int:
    """Every file-system right the kernel's ABI `version` handles."""
    return FS_BY_ABI[min(version, max(FS_BY_ABI))] if version > 0 else 0


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"landlock {what}: {os.strerror(err)}")


def build_ruleset(
    version: int, read: Iterable[str], write: Iterable[str], read_write_files: Iterable[str]
) -> int:
    """A ruleset fd: `read` paths readable and executable, `write` paths fully usable, nothing else.

    `read_write_files` are files (devices such as /dev/null) that may be read, written and truncated.
    TCP is refused where the ABI handles it, and signals and abstract sockets are scoped. Paths that do
    not exist are skipped. Raises OSError when the kernel refuses a step.
    """
    if _SYSCALL is None or version < 1:
        raise OSError(0, "landlock is not available")
    handled = fs_rights(version)
    fields = [handled]
    if version >= NET_ABI:
        fields.append(NET_BIND_TCP | NET_CONNECT_TCP)
    if version >= SCOPE_ABI:
        fields.append(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    attr = ctypes.create_string_buffer(struct.pack(f"{len(fields)}Q", *fields), 8 * len(fields))
    fd = int(_SYSCALL(SYS_CREATE_RULESET, attr, ctypes.c_size_t(8 * len(fields)), 0))
    if fd < 0:
        raise _fail("create_ruleset")
    try:
        for paths, rights in (
            (read, READ),
            (write, handled),
            (read_write_files, READ_FILE | WRITE_FILE | TRUNCATE),
        ):
            for path in paths:
                _add_path(fd, path, rights & handled)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine does not have
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY
        # struct landlock_path_beneath_attr is packed: a u64 of rights, then an s32 fd.
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, target), 12)
        if _SYSCALL is None or _SYSCALL(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, rule, 0) != 0:
            raise _fail(f"add_rule {path}")
    finally:
        os.close(target)


def restrict_self(ruleset: int) -> None:
    """Enter the ruleset's domain, for good. Needs ``no_new_privs`` (or CAP_SYS_ADMIN) first."""
    if _SYSCALL is None or _SYSCALL(SYS_RESTRICT_SELF, ruleset, 0) != 0:
        raise _fail("restrict_self")


def without(allowed: Iterable[str], hidden: Iterable[str]) -> list[str]:
    """`allowed`, with any directory that holds a `hidden` path replaced by its other entries.

    Landlock grants access beneath a path and cannot take part of it back: the dataset's tests inside an
    allowed site-packages stay unreadable only if site-packages is allowed entry by entry around them.
    """
    hidden = [os.path.abspath(h) for h in hidden]
    out: list[str] = []
    todo = [os.path.abspath(a) for a in allowed]
    while todo:
        path = todo.pop()
        if path in hidden:
            continue
        if not any(h.startswith(path.rstrip("/") + "/") for h in hidden) or not os.path.isdir(path):
            out.append(path)
            continue
        try:
            todo.extend(os.path.join(path, name) for name in os.listdir(path))
        except OSError:
            continue
    return sorted(out)
