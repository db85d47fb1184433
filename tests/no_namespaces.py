"""Run a command where namespaces are refused, as in a container or on a locked-down CI runner.

    python tests/no_namespaces.py [--uid UID] -- COMMAND...

Started as root, it does what Docker does to a container's first process, then execs COMMAND:

* a seccomp filter that refuses ``unshare``, ``setns`` and ``clone`` with a namespace flag (EPERM) and
  answers ``clone3`` with ENOSYS, as Docker's default profile does for a process without CAP_SYS_ADMIN;
* every capability outside Docker's default set dropped from the bounding, permitted, effective and
  inheritable sets: root without CAP_SYS_ADMIN, CAP_SYS_PTRACE or CAP_NET_ADMIN;
* ``no_new_privs`` stays off, as in Docker and on CI runners;
* with ``--no-landlock``, Landlock's calls answer ENOSYS, as on a kernel without Landlock.

With ``--uid``, it then becomes that uid (gid the same, no supplementary groups): an ordinary user on a
runner whose namespaces are refused, with no capability at all. The filter stays: seccomp filters are
inherited and cannot be lifted. Each ``--reachable PATH`` (Python, the virtualenv, the checkout) must be
readable by that user, as an ordinary user's own Python is: where a directory above it is closed to
others (``/root``, mode 700), the launcher first covers that directory, in a mount namespace of its
own, with a tmpfs that holds only the way to PATH, bound from the original. Nothing outside the
launcher's mount namespace changes, and the namespace is made before namespaces are refused.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import tempfile

import pyseccomp as sc

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# Docker's default capabilities (moby's oci/caps/defaults.go), by number.
DOCKER_CAPS = {
    0: "CHOWN",
    1: "DAC_OVERRIDE",
    3: "FOWNER",
    4: "FSETID",
    5: "KILL",
    6: "SETGID",
    7: "SETUID",
    8: "SETPCAP",
    10: "NET_BIND_SERVICE",
    13: "NET_RAW",
    18: "SYS_CHROOT",
    27: "MKNOD",
    29: "AUDIT_WRITE",
    31: "SETFCAP",
}
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80)

_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def refuse_namespaces(landlock: bool) -> None:
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.CTL_NNP, 0)  # loaded with CAP_SYS_ADMIN, as a container runtime does
    for name in ("unshare", "setns"):
        f.add_rule(sc.ERRNO(errno.EPERM), name)
    for flag in NAMESPACE_FLAGS:
        f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    if not landlock:  # a kernel older than 5.13, or one booted without Landlock in its lsm= list
        for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
            f.add_rule(sc.ERRNO(errno.ENOSYS), name)
    f.load()


def keep_only_docker_caps() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if cap not in DOCKER_CAPS:
            _check(_LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    _LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    mask = sum(1 << cap for cap in DOCKER_CAPS)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)(mask, mask, mask, 0, 0, 0)  # effective, permitted, inheritable; low 32
    _check(_LIBC.capset(header, data), "capset")


CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_LIBC.mount(args[0], args[1], args[2], flags, args[3]), f"mount {target}")


def make_reachable(paths: list[str]) -> None:
    """Cover each directory above `paths` that others cannot pass with a tmpfs holding only the way on."""
    _check(_LIBC.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    stashes: dict[str, str] = {}  # covered directory -> where its original is still reachable (by root)
    for path in paths:
        parts = os.path.abspath(path).strip("/").split("/")
        for depth in range(len(parts) - 1):
            above = "/" + "/".join(parts[:depth])
            directory = os.path.join(above, parts[depth])
            child = os.path.join(directory, parts[depth + 1])
            if directory not in stashes and os.stat(directory).st_mode & 0o001:
                continue
            if directory not in stashes:
                stash = tempfile.mkdtemp(prefix="reachable-")
                _mount(directory, stash, None, MS_BIND | MS_REC)
                _mount("tmpfs", directory, "tmpfs", 0, "mode=755")
                stashes[directory] = stash
            original = os.path.join(stashes[directory], parts[depth + 1])
            if not os.path.lexists(child):
                if os.path.isdir(original):
                    os.mkdir(child)
                else:
                    open(child, "w").close()
                _mount(original, child, None, MS_BIND | MS_REC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--uid", type=int, default=None, help="become this uid after dropping capabilities")
    parser.add_argument("--no-landlock", action="store_true", help="answer Landlock's calls with ENOSYS")
    parser.add_argument("--reachable", action="append", default=[], help="a path the uid must read")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    if os.geteuid() != 0:
        parser.error("start it as root")
    if args.reachable:
        make_reachable(args.reachable)
    refuse_namespaces(landlock=not args.no_landlock)
    keep_only_docker_caps()
    if args.uid is not None:
        os.setgroups([])
        os.setresgid(args.uid, args.uid, args.uid)
        os.setresuid(args.uid, args.uid, args.uid)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
