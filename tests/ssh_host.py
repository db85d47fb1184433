"""A real OpenSSH server on 127.0.0.1 and "remote hosts" behind it, for xdist's ``--tx ssh=`` workers.

:class:`SshServer` runs Debian's ``/usr/sbin/sshd`` in the foreground with a config, host key and
authorized key it makes in a temporary directory, and writes the client's config file (``-F``, which
xdist passes on as ``//ssh_config=``). :func:`remote_python` makes what a remote host offers as its
Python: a script that starts this interpreter (the plugin is installed there) in an environment of the
host's own: its own home and working directory, its own ``PYTEST_HUMANEVAL_*`` variables and ini file,
no model client (``openai``, ``torch`` and ``transformers`` do not import) and no access to the
controller's directory (opening a file under it raises, and the attempt is logged). Used by
``tests/test_across_machines.py``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .helpers import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # Debian's sshd refuses to start without it
READY_SECONDS = 30.0


def why_sshd_cannot_run() -> str | None:
    """None when a test can start sshd here; else what is missing, in words for a skip reason."""
    if not SSHD.is_file():
        return f"{SSHD} is missing: install Debian's openssh-server (.ci/run does)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "the OpenSSH client (ssh, ssh-keygen) is missing: install Debian's openssh-client"
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():  # sshd run by another user does not chroot
        return f"sshd run as root needs its privilege separation directory {PRIVSEP_DIR} (.ci/run makes it)"
    return None


class SshServer:
    """sshd on 127.0.0.1 that lets the current user in with a key made here; a host alias for clients."""

    HOST = "humaneval-remote"  # the name clients use; ssh_config maps it to 127.0.0.1 and the port

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.client_config = directory / "ssh_config"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "sshd.log"

    def __enter__(self) -> SshServer:
        d = self.directory
        for key in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
        shutil.copy(d / "user_key.pub", d / "authorized_keys")
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
        )
        self.client_config.write_text(
            f"Host {self.HOST}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {getpass.getuser()}\n"
            f"  IdentityFile {d / 'user_key'}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        )
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(d / "sshd_config"), "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            probe = subprocess.run(
                [*self.ssh_command(), "true"], capture_output=True, stdin=subprocess.DEVNULL, check=False
            )
            if probe.returncode == 0:
                return
            assert self._process is not None
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd did not let us in: {probe.stderr.decode(errors='replace').strip()}; "
                    f"its log: {self._log.read_text(errors='replace').strip()}"
                )
            time.sleep(0.1)

    def ssh_command(self) -> list[str]:
        return ["ssh", "-F", str(self.client_config), self.HOST]

    def tx(self, python: Path) -> str:
        """An xdist ``--tx`` spec for one worker on this host, started with `python`."""
        return f"ssh={self.HOST}//ssh_config={self.client_config}//python={python}"

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # sshd -D ends its sessions' parent at once
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


BLOCKED_MODULES = ("openai", "torch", "transformers")

# The remote host's sitecustomize: what makes this interpreter a different machine for the plugin.
SITECUSTOMIZE = """\
import os
import sys

_FORBIDDEN = os.environ["HUMANEVAL_TEST_FORBIDDEN"].rstrip("/") + "/"
_LOG = os.environ["HUMANEVAL_TEST_HOME"] + "/forbidden.log"
_BLOCKED = {blocked!r}
_busy = []


def _note(what):
    _busy.append(1)
    try:
        with open(_LOG, "a") as log:
            log.write(what + "\\n")
    finally:
        _busy.pop()


class _NoModelClient:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            _note("import " + name)
            raise ModuleNotFoundError("No module named %r on this host" % name, name=name)
        return None


def _audit(event, args):
    if event != "open" or _busy or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if (path + "/").startswith(_FORBIDDEN):
        _note("open " + path)
        raise PermissionError("the controller's files are not on this host: " + path)


sys.meta_path.insert(0, _NoModelClient())
sys.addaudithook(_audit)
"""


def remote_python(home: Path, name: str, forbidden: Path, own_settings: dict[str, str]) -> Path:
    """The Python a remote host named `name` offers: a script in `home`, which is the host's home.

    The host's environment sets `own_settings` (``PYTEST_HUMANEVAL_*`` variables) and its working
    directory has an ini file with the same values: a worker that read either would judge differently.
    """
    site = home / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=BLOCKED_MODULES))
    work = home / "pyexecnetcache"  # where xdist starts an ssh worker, relative to the login directory
    work.mkdir()
    ini = "".join(f"{key.removeprefix('PYTEST_').lower()} = {value}\n" for key, value in own_settings.items())
    (work / "pytest.ini").write_text("[pytest]\n" + ini)
    exports = "".join(f"export {key}={value}\n" for key, value in own_settings.items())
    script = home / "python"
    script.write_text(
        "#!/bin/sh\n"
        f"cd {home}\n"
        f"export HOME={home} PYTHONPATH={site} HUMANEVAL_TEST_HOME={home} HUMANEVAL_TEST_WORKER={name}\n"
        f"export HUMANEVAL_TEST_FORBIDDEN={forbidden}\n"
        "unset OPENAI_BASE_URL OPENAI_API_KEY\n"
        f"{exports}"
        f'exec {sys.executable} "$@"\n'
    )
    script.chmod(0o755)
    return script


def worker_pids(name: str) -> list[int]:
    """The worker interpreters of remote host `name`: its topmost processes (children inherit the mark)."""
    marked: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if f"HUMANEVAL_TEST_WORKER={name}".encode() in environ:
            marked[int(entry.name)] = parent
    return sorted(pid for pid, parent in marked.items() if parent not in marked)


def kill_worker(name: str) -> int:
    """SIGKILL the worker interpreter of remote host `name`; its pid."""
    pids = worker_pids(name)
    assert len(pids) == 1, f"expected one worker on {name}, found {pids}"
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]
