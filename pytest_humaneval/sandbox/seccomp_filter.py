"""seccomp-bpf: the system calls a sample never needs, refused in its child before the candidate runs.

The filter is compiled once, in the fork server, by libseccomp through ``pyseccomp`` (a ctypes binding
from PyPI, API-compatible with libseccomp's own Python module): :func:`compile_filter` returns the BPF
program as bytes, and each child installs those bytes with one ``prctl`` (:func:`install`), so no child
calls into libseccomp. Without ``pyseccomp`` or the system's ``libseccomp.so.2``, :func:`compile_filter`
says why and the layer is reported missing.

Refused (everything else is allowed, and a foreign architecture's calls, x32 or i386, kill the process):

* sockets other than ``AF_UNIX`` (``socket``, ``socketpair``): no network of any kind;
* ``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``: no reading or steering other processes;
* the mount family, ``unshare``, ``setns``, and ``clone`` with a namespace flag; ``clone3`` answers ENOSYS
  (its flags sit in memory that a filter cannot read), and libc then falls back to ``clone``;
* ``keyctl``, ``add_key``, ``request_key``, ``bpf``, ``perf_event_open``, ``userfaultfd``, kernel
  modules, kexec, reboot, swap, ``open_by_handle_at``; ``io_uring_*`` answer ENOSYS (io_uring would
  bypass this filter);
* ``ioctl(TIOCSTI)`` and ``ioctl(TIOCLINUX)``: no typing into a terminal;
* the ``chmod`` and ``chown`` families: Landlock does not cover a file's mode or owner, so without them
  a sample running as the user could make the user's own files writable to all (``fchmodat2``, newer
  than libseccomp 2.5, is refused by its number, the same on every architecture);
* where Landlock cannot scope signals (``scope_signals`` false), ``kill(-1)``, the signal to everyone.

Stdlib only at import time, and no relative imports: the fork server imports this file as a top-level
module; ``pyseccomp`` is imported only by :func:`compile_filter`.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import os
import sys
import types
from typing import Any

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AF_UNIX = 1
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
REFUSED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
    "acct",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
)
FCHMODAT2 = 452  # Linux 6.6; one number on every architecture, as every call added since Linux 5.1
NOT_IMPLEMENTED = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")


class Compiled:
    """A BPF program ready for :func:`install`: the bytes, and the ``struct sock_fprog`` pointing at them."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise ValueError("a BPF program is a whole number of 8-byte instructions")
        self.program = program
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self.fprog = _SockFprog(len(program) // 8, ctypes.cast(self._buffer, ctypes.c_void_p))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def compile_filter(scope_signals: bool) -> tuple[Compiled | None, str]:
    """The sample filter compiled to BPF, or None and why not in words."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: libseccomp.so.2 not found
        return None, f"no seccomp filter (pyseccomp is unavailable: {exc})"
    try:
        program = _build(sc, scope_signals)
    except (OSError, RuntimeError, ValueError) as exc:
        return None, f"no seccomp filter (libseccomp refused it: {exc})"
    return Compiled(program), ""


def _build(sc: Any, scope_signals: bool) -> bytes:
    refuse = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    f.set_attr(sc.Attr.CTL_NNP, 0)  # the child sets no_new_privs itself, before installing
    rules: list[tuple[int, str | int, tuple[Any, ...]]] = [(refuse, name, ()) for name in REFUSED]
    rules.append((refuse, FCHMODAT2, ()))
    rules += [(sc.ERRNO(errno.ENOSYS), name, ()) for name in NOT_IMPLEMENTED]
    rules += [
        (refuse, "socket", (sc.Arg(0, sc.NE, AF_UNIX),)),
        (refuse, "socketpair", (sc.Arg(0, sc.NE, AF_UNIX),)),
    ]
    rules += [(refuse, "clone", (sc.Arg(0, sc.MASKED_EQ, flag, flag),)) for flag in NAMESPACE_FLAGS]
    rules += [
        (refuse, "ioctl", (sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, code),)) for code in (TIOCSTI, TIOCLINUX)
    ]
    if not scope_signals:
        rules += [(refuse, "kill", (sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, 0xFFFFFFFF),))]
    for action, name, args in rules:
        try:
            f.add_rule(action, name, *args)
        except (OSError, RuntimeError, ValueError):
            # A name this libseccomp does not know: a call the kernel it was built for did not have
            # either, or that the kernel answers ENOSYS for anyway.
            continue
    memfd = os.memfd_create("humaneval-seccomp", os.MFD_CLOEXEC)
    with open(memfd, "w+b") as out:
        f.export_bpf(out)
        out.flush()
        out.seek(0)
        return out.read()


_LIBC: Any = None


def prepare() -> None:
    """Look up prctl now, in the server: a child that first touched ctypes's lookup would copy pages."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)


def install(compiled: Compiled) -> None:
    """Install the filter in this process (and all it starts), for good. Needs ``no_new_privs`` first."""
    prepare()
    if _LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(compiled.fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")


SONAMES = {"seccomp": "libseccomp.so.2", "c": "libc.so.6"}


def load_library() -> None:
    """Import pyseccomp (which loads libseccomp) now, while the system's library paths are visible.

    pyseccomp finds its libraries with ``ctypes.util.find_library``. The real ``ctypes.util`` imports
    ``subprocess`` and with it ``threading``, whose handler runs in every forked child (about 130 page
    faults, 0.35 ms a sample here), and its lookup runs ``ldconfig`` twice (0.1 s per fork server). For
    the time of the import a stand-in module answers the sonames that load directly, and falls back to
    the real lookup for anything else. A missing library is not an error here: :func:`compile_filter`
    reports it.
    """
    stand_in = types.ModuleType("ctypes.util")

    def find_library(name: str) -> str | None:
        soname = SONAMES.get(name)
        if soname is not None:
            try:
                ctypes.CDLL(soname)
                return soname
            except OSError:
                pass
        return _system_lookup(name)

    stand_in.find_library = find_library  # type: ignore[attr-defined]
    saved = sys.modules.get("ctypes.util")
    sys.modules["ctypes.util"] = stand_in
    ctypes.util = stand_in  # type: ignore[attr-defined]  # what `import ctypes.util` then names
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        pass
    finally:
        _restore_lookup(saved)


def _restore_lookup(saved: types.ModuleType | None) -> None:
    """Put back ``ctypes.util`` as it was: imported for real, or not imported at all."""
    if saved is None:
        sys.modules.pop("ctypes.util", None)
        if "util" in vars(ctypes):
            del ctypes.util  # type: ignore[attr-defined]
    else:
        sys.modules["ctypes.util"] = saved
        ctypes.util = saved  # type: ignore[attr-defined]


def _system_lookup(name: str) -> str | None:
    """The real ``ctypes.util.find_library``, for a library whose soname does not load directly."""
    stand_in = sys.modules.pop("ctypes.util", None)
    try:
        real = importlib.import_module("ctypes.util")
        return real.find_library(name)  # type: ignore[no-any-return]
    finally:
        if stand_in is not None:
            sys.modules["ctypes.util"] = stand_in
            ctypes.util = stand_in  # type: ignore[attr-defined]
