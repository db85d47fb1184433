"""OS confinement of the fork server and of each sample: namespaces, id maps, the file system, privileges.

Two kinds of function, for the two moments confinement happens:

* once, as the fork server starts: :func:`enter_namespaces` (user, mount, network, PID, IPC and UTS
  namespaces, with the id maps written) and :func:`confine_filesystem` (a minimal read-only root,
  through pivot_root). Each returns what it achieved, decided by its last step succeeding, and why not
  in words; the server records that in its isolation report and runs with what the kernel allowed;
* in each sample's child, before the candidate runs: :func:`confine_sample` (its own session, the
  sandbox user, no capabilities, ``no_new_privs``, the Landlock domain and seccomp filter of
  :class:`Layers`, resource limits).

Stdlib only, and its companions imported as top-level modules when the fork server runs it as one.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import struct
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING or __package__:  # imported as a module of the package (type checkers, tests)
    from . import landlock_rules, seccomp_filter
else:  # imported by the fork server's script, as a top-level module
    import landlock_rules
    import seccomp_filter

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

SCRATCH_TMPFS_SIZE = "512m"  # disk a sample may fill in its scratch directory
MAX_FILE_SIZE = 256 * 1024 * 1024
MAX_PROCESSES = 256  # processes and threads of the sandbox user (RLIMIT_NPROC)
DEVICES = ("null", "zero", "full", "random", "urandom")
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/localtime")
# Inside the new root: the scratch file system, and the sample's directory on it. The scratch file
# system sits where the host's /tmp does, so that binds of host paths under /tmp land on top of it.
ROOT_TMP = "/tmp"
ROOT_SCRATCH = "/tmp/sample"


def _load_libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # not Linux: nothing below that needs it will be attempted
        return None


_LIBC = _load_libc()
# Looked up here, once: a child that first touched ctypes's lookup machinery would copy its pages.
_PRCTL = getattr(_LIBC, "prctl", None)  # Linux only; elsewhere the server's cleanup still applies
_CAPSET = getattr(_LIBC, "capset", None)
_CAP_HEADER = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
_NO_CAPS = bytes(24)  # effective, permitted and inheritable sets, all empty


def _prctl(option: int, value: int) -> None:
    if _PRCTL is not None:
        _PRCTL(option, value, 0, 0, 0)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# ---------------------------------------------------------------------------- the server's process


def die_with_parent() -> None:
    """SIGKILL this process when the process that started it dies."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def make_undumpable() -> None:
    """Nobody may read this process's memory through /proc, nor attach to it."""
    _prctl(PR_SET_DUMPABLE, 0)


def become_subreaper() -> None:
    """Orphans of this process's descendants become its children, so that it can kill and reap them."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def limit_address_space(memory: int | None) -> None:
    """Cap this process's address space at `memory` bytes (None or 0: no cap)."""
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


# ---------------------------------------------------------------------------- namespaces


def sandbox_ids() -> tuple[int, int]:
    """The user the samples run as: nobody when we are root, else ourselves (all we may map)."""
    if os.geteuid() == 0:
        return 65534, 65534
    return os.geteuid(), os.getegid()


class Entered(NamedTuple):
    """What :func:`enter_namespaces` achieved, in the process it returns in.

    `holder` reads as fork()'s result: 0 in PID 1 of the new namespaces, the pid of the process holding
    them in the caller, None in the caller where the kernel refused (`refused` then says why).
    """

    holder: int | None
    refused: str = ""


def enter_namespaces(uid: int, gid: int) -> Entered:
    """Fork into new user, mount, network, PID, IPC and UTS namespaces; returns in two processes, as fork().

    A child of the caller unshares and holds the namespaces; the caller writes their id maps (the
    sandbox user `uid`/`gid`, and its own ids); only then does the holder fork PID 1 of the new PID
    namespace, where this returns holder 0. In the caller it returns the holder's pid, or None where the
    kernel refused, and then no namespace exists.
    """
    if _LIBC is None or not hasattr(os, "fork"):
        return Entered(None, "not Linux")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _hold_namespaces(ready_w, go_r)  # returns only in PID 1 of the new namespaces
        return Entered(0)
    os.close(ready_w)
    os.close(go_r)
    answer = os.read(ready_r, 500)
    os.close(ready_r)
    try:
        if answer != b"1":
            os.waitpid(pid, 0)
            return Entered(None, answer.decode(errors="replace"))
        try:
            _write_id_maps(pid, uid, gid)
            os.write(go_w, b"1")
        except OSError as exc:
            os.write(go_w, b"0")
            os.waitpid(pid, 0)
            return Entered(None, f"user namespace id mapping failed ({exc.strerror})")
    finally:
        os.close(go_w)
    return Entered(pid)


def _hold_namespaces(ready_w: int, go_r: int) -> None:
    """The holder: unshares, waits for its id maps, forks PID 1 and waits; returns only in PID 1."""
    die_with_parent()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    try:
        _check(_LIBC.unshare(flags), "unshare")
    except OSError as exc:
        os.write(ready_w, f"user namespaces are not available ({exc.strerror})".encode()[:500] or b"0")
        os._exit(0)
    os.write(ready_w, b"1")
    os.close(ready_w)
    go = os.read(go_r, 1)
    os.close(go_r)
    if go != b"1":  # the id maps could not be written: the caller goes on without namespaces
        os._exit(0)
    init = os.fork()
    if init == 0:
        return
    os.waitpid(init, 0)
    os._exit(0)


def _write_id_maps(pid: int, uid: int, gid: int) -> None:
    """Map the sandbox user, and the server's own user so that it can make files for the new root."""
    own_uid, own_gid = os.geteuid(), os.getegid()
    if own_uid != 0:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    uids = sorted({own_uid, uid})
    gids = sorted({own_gid, gid})
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write("".join(f"{u} {u} 1\n" for u in uids))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write("".join(f"{g} {g} 1\n" for g in gids))


# ---------------------------------------------------------------------------- the file system


def python_paths(exclude: str) -> list[str]:
    """What this interpreter reads: its prefixes and its import path (-I keeps the user's out of it).

    Never `exclude` (the checkout the fork server's script lives in) nor any directory above it: an
    editable install may have put the checkout on the path.
    """
    paths = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(p for p in paths if not (exclude + "/").startswith(p.rstrip("/") + "/"))


class Root(NamedTuple):
    """What :func:`confine_filesystem` achieved."""

    pivoted: bool  # the process runs in the new root, the old one detached
    keep: list[str]  # entries of ROOT_TMP that lead to bind mounts: cleaning between samples keeps them
    notes: list[str]  # what is missing, in words


def confine_filesystem(workdir: str, python_paths: list[str], hide: list[str]) -> Root:
    """In the new mount namespace: pivot into a tmpfs root that holds only what samples may see.

    That is read-only binds of the system's libraries and of `python_paths`, with the paths in `hide`
    covered up inside them, a few devices, a private /proc, and a size-capped scratch file system at
    ROOT_TMP. The new root is made under `workdir`.
    """
    notes: list[str] = []
    try:
        keep = _build_root(workdir, python_paths, hide, notes)
    except OSError as exc:
        notes.append(f"file-system confinement is off ({exc})")
        return Root(False, [], notes)
    return Root(True, keep, notes)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if s is None else s.encode() for s in (source, target, fstype)]
    _check(
        _LIBC.mount(args[0], args[1], args[2], flags, None if data is None else data.encode()),
        f"mount {target}",
    )


def _mount_flags_of(path: str) -> int:
    """The flags a read-only remount must keep: in a user namespace the kernel refuses to clear them."""
    st = os.statvfs(path)
    flags = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    ):
        if st.f_flag & st_flag:
            flags |= ms_flag
    return flags


def _bind(path: str, newroot: str, read_only: bool = True) -> None:
    target = newroot + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(path, target, None, MS_BIND | MS_REC)
    if read_only:
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | _mount_flags_of(path)
        _mount(None, target, None, flags)


def _allowed_paths(python: list[str]) -> list[str]:
    """Top-most existing paths of what Python needs, parents before children, no path twice."""
    wanted = list(SYSTEM_PATHS) + python
    chosen: list[str] = []
    for path in sorted({os.path.abspath(p) for p in wanted if p and os.path.lexists(p)}, key=len):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)
    return chosen


def _build_root(workdir: str, python: list[str], hide: list[str], notes: list[str]) -> list[str]:
    """Make the new root and pivot into it; returns the entries of /tmp that lead to bind mounts."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    newroot = os.path.join(workdir, "root")
    os.makedirs(newroot, exist_ok=True)
    _mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # /tmp first: what Python needs may itself live under /tmp (a virtualenv in a CI checkout there), and
    # its bind mounts must land on top of the scratch file system, not under it.
    os.makedirs(newroot + ROOT_TMP, exist_ok=True)
    _mount("tmpfs", newroot + ROOT_TMP, "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_TMPFS_SIZE},mode=1777")
    allowed = _allowed_paths(python)
    for path in allowed:
        _bind(path, newroot)
    # Entries of /tmp that lead to those binds are never cleaned away between samples.
    keep = sorted({p.split("/")[2] for p in allowed if p.startswith("/tmp/") and len(p.split("/")) > 2})
    for path in hide:  # e.g. the dataset with the tests, inside site-packages
        target = newroot + os.path.abspath(path)
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")
        elif os.path.exists(target):
            _mount("/dev/null", target, None, MS_BIND)
    os.makedirs(newroot + "/dev", exist_ok=True)
    for name in DEVICES:
        _bind(f"/dev/{name}", newroot, read_only=False)
    os.makedirs(newroot + "/dev/shm", exist_ok=True)
    _mount("tmpfs", newroot + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    os.makedirs(newroot + "/proc", exist_ok=True)
    try:
        _mount("proc", newroot + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:
        notes.append(f"no private /proc ({exc.strerror})")
    _mount(None, newroot, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(newroot)
    _check(_LIBC.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_LIBC.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    return keep


# ---------------------------------------------------------------------------- each sample


class Layers(NamedTuple):
    """What each sample's child applies on top of its session and limits: set up once, in the server.

    `uid`/`gid`: the sandbox user to become (None: stay who we are); `landlock`: a ruleset fd to enter;
    `seccomp`: a compiled filter (a :class:`seccomp_filter.Compiled`) to install.
    """

    uid: int | None = None
    gid: int | None = None
    landlock: int | None = None
    seccomp: Any = None


def confine_sample(*, layers: Layers, pid_namespace: bool, cpu_seconds: int, memory: int | None) -> None:
    """In a sample's child, before the candidate runs: confine it with what the fork server achieved.

    Its own session; the sandbox user with no capabilities where there is one; ``no_new_privs``; the
    Landlock domain and the seccomp filter where the server built them; death with the server where
    there is no PID namespace (`pid_namespace`) to take it along; limits on address space, CPU time, file
    size, processes and core dumps. Raises OSError when a layer the server verified cannot be applied:
    the child must then never run the candidate.
    """
    # Its own session and process group: kill(0) and killpg() from the sample reach only itself, never
    # the processes outside the PID namespace that share the server's group.
    os.setsid()
    if not pid_namespace:  # in one, the server's death kills the namespace and all in it
        die_with_parent()
    _drop_privileges(layers.uid, layers.gid)
    set_no_new_privs()
    if layers.landlock is not None:
        landlock_rules.restrict_self(layers.landlock)
    if layers.seccomp is not None:
        seccomp_filter.install(layers.seccomp)
    limit_address_space(memory)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_SIZE, MAX_FILE_SIZE))
    if layers.uid is not None:  # counted per user: only meaningful for the sandbox's own user
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with an error instead


def set_no_new_privs() -> None:
    """No exec of this process or its descendants may gain privileges (setuid files, file capabilities)."""
    if _PRCTL is not None:
        _check(_PRCTL(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def has_no_new_privs() -> bool:
    return _PRCTL is not None and _PRCTL(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1


def _drop_privileges(uid: int | None, gid: int | None) -> None:
    """Become the sandbox user (in the user namespace, or as root without one), with no capability."""
    if uid is None or gid is None or _LIBC is None:
        return
    try:
        os.setgroups([])
    except OSError:  # setgroups is denied in namespaces made by an unprivileged user
        pass
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if _CAPSET is not None:
        _check(_CAPSET(_CAP_HEADER, _NO_CAPS), "capset")
