"""Commands over the system ``ssh`` binary, riding one shared login (ControlMaster).

Each command is an ``ssh`` mux client process (a few ms to start) on the master that
:mod:`.sharedlogin` keeps; nothing here ever logs in by itself. The whole of ssh_config
applies (the profile's fields are passed as options and win over the file), host keys are
checked by OpenSSH against the profile's known_hosts (``@cert-authority`` and ``@revoked``
included), and values never pass through a local shell.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
import weakref
from collections.abc import Sequence

from ..common.errors import TransportError
from ..config.profile import Profile
from .base import CommandResult, Transport
from .local import run_process
from .sharedlogin import SharedLogin, config_path
from .stream import LocalStream, Stream

CONNECT_TIMEOUT = 15.0
KEEPALIVE = 30
SESSION_REFUSED = b"Session open refused"
SESSION_PATIENCE = 60.0  # seconds a command waits for a free session of the shared login
PARALLEL = 6  # commands of this process at once on the shared login (sshd: 10 sessions)


def ssh_binary() -> str | None:
    """The ``ssh`` client on PATH (``CLUSTERLAB_SSH`` overrides), or None."""
    return os.environ.get("CLUSTERLAB_SSH") or shutil.which("ssh")


def uses_default_config(profile: Profile) -> bool:
    return os.path.expanduser(profile.ssh_config) == os.path.expanduser("~/.ssh/config")


def base_argv(profile: Profile, ssh: str) -> list[str]:
    """``ssh`` and the options that say how this profile logs in (no mux options)."""
    argv = [ssh]
    config = os.path.expanduser(profile.ssh_config) if profile.ssh_config else ""
    if not uses_default_config(profile):
        argv += ["-F", config if config and os.path.isfile(config) else "none"]
    if profile.user:
        argv += ["-l", profile.user]
    if profile.port != 22:
        argv += ["-p", str(profile.port)]
    if profile.key_file:
        argv += ["-o", f"IdentityFile={config_path(os.path.expanduser(profile.key_file))}"]
    known = os.path.expanduser(profile.known_hosts)
    argv += [
        "-o",
        f"UserKnownHostsFile={config_path(known)}",
        "-o",
        f"StrictHostKeyChecking={'accept-new' if profile.trust_on_first_use else 'yes'}",
        "-o",
        "HashKnownHosts=no",
        "-o",
        "UpdateHostKeys=no",
        "-T",
    ]
    return argv


def resolved(profile: Profile, ssh: str) -> dict[str, list[str]]:
    """What ssh will really use for this host (``ssh -G``: Match, Include and all)."""
    done = subprocess.run(
        [*base_argv(profile, ssh), "-G", "--", profile.host],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CONNECT_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise TransportError(
            f"ssh cannot read the configuration for {profile.host!r}: "
            f"{done.stderr.decode(errors='replace').strip()[-300:]}"
        )
    out: dict[str, list[str]] = {}
    for line in done.stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key.lower(), []).append(value)
    return out


class OpenSSHTransport(Transport):
    """``ssh`` mux clients on a shared master; see the module docstring."""

    def __init__(self, profile: Profile, ssh: str) -> None:
        super().__init__()
        self.profile = profile
        self.ssh = ssh
        self.config = resolved(profile, ssh)
        first = {k: v[0] for k, v in self.config.items() if v}
        self.hostname = first.get("hostname", profile.host)
        self.user = first.get("user", profile.user)
        self.port = int(first.get("port", profile.port))
        self.label = f"ssh {self.user}@{self.hostname}:{self.port}"
        argv = base_argv(profile, ssh)
        timeout = first.get("connecttimeout", "none")
        connect_timeout = float(timeout) if timeout.isdigit() else CONNECT_TIMEOUT
        if not timeout.isdigit():
            argv += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT:g}"]
        if first.get("serveraliveinterval", "0") == "0":
            argv += ["-o", f"ServerAliveInterval={KEEPALIVE}"]
        self.argv = argv
        where = f"{self.user}@{self.hostname}:{self.port}"
        key = hashlib.sha256("\0".join([*argv, profile.host]).encode()).hexdigest()[:20]
        self.profile_names = [profile.name]
        self._streams: weakref.WeakSet[LocalStream] = weakref.WeakSet()
        self._sessions = threading.BoundedSemaphore(PARALLEL)
        self.login = SharedLogin(
            argv,
            ["--", profile.host],
            key,
            persist=int(profile.persist),
            askpass=profile.askpass,
            profile=profile.name,
            host=where,
            connect_timeout=connect_timeout,
        )

    def _run_logged_in(self) -> None:
        self.login.profile = ", ".join(self.profile_names)
        self.login.ensure()

    def _client_argv(self, argv: Sequence[str]) -> list[str]:
        import shlex

        return [*self.argv, *self.login.client_options(), "--", self.profile.host, shlex.join(argv)]

    def _run(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        self._run_logged_in()
        result = self._once_when_a_session_is_free(argv, stdin, timeout)
        if result.returncode == 255 and SharedLogin.master_was_gone(result.stderr):
            self.login.relogin()  # the command never ran: log in again, once, and retry
            result = self._once(argv, stdin, timeout)
        if result.returncode == 255 and SharedLogin.master_was_gone(result.stderr):
            raise TransportError(
                f"{self.label}: the shared login ended and could not be re-established "
                f"({result.err.strip()[-200:]})"
            )
        if result.returncode == 255 and (
            _ssh_failed(result.stderr) or not self.login.alive()
        ):  # the mux client exits 255 (often silently) when the login dies under it
            raise TransportError(
                f"{self.label}: the connection dropped while running `{argv[0]}` "
                f"({result.err.strip()[-200:]}); it will be re-opened for the next command"
            )
        return result

    def _once_when_a_session_is_free(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        """Every process of this user shares the login's one connection, and sshd allows
        MaxSessions (10 by default) sessions on it: a refused session did not run, so wait
        for one to end (status agents and other kernels hold some) and try again."""
        waited = 0.0
        pause = 0.05
        while True:
            with self._sessions:
                result = self._once(argv, stdin, timeout)
            if result.returncode != 255 or SESSION_REFUSED not in result.stderr:
                return result
            if waited >= SESSION_PATIENCE:
                raise TransportError(
                    f"{self.label}: the login host refused another session on the shared "
                    f"login for {waited:.0f} s (sshd's MaxSessions, 10 by default, are all in "
                    "use by this user's notebooks and their status agents); close some "
                    "notebooks, or ask the admins to raise MaxSessions"
                )
            time.sleep(pause)
            waited += pause
            pause = min(pause * 2, 1.0)

    def _once(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        return run_process(self._client_argv(argv), stdin, timeout, self.label, argv)

    def open_stream(self, argv: Sequence[str]) -> Stream:
        """``argv`` as a mux client whose pipes are the stream (closing stdin ends it)."""
        self._run_logged_in()
        stream = LocalStream(self._client_argv(argv))
        self._streams.add(stream)
        return stream

    def close(self) -> None:
        """This process's long-lived commands end (as when it exits); the shared login
        outlives it, a private one (persist=0) ends here."""
        for stream in list(self._streams):
            stream.close()
        if int(self.profile.persist) <= 0:
            self.login.logout()


def _ssh_failed(stderr: bytes) -> bool:
    """ssh itself (not the remote command) reported the 255."""
    return any(
        word in stderr
        for word in (b"mux_client", b"Connection closed", b"Broken pipe", b"Connection reset")
    )
