"""One login per cluster per user on this machine: an OpenSSH ControlMaster, shared.

Why OpenSSH's ControlMaster rather than a daemon of our own holding paramiko connections:
it is the mechanism sites already document, it survives the process that started it (a
crashed kernel does not drop the others' login), and the ``ssh`` binary brings every
ssh_config feature (Match, Include, ProxyCommand, certificates, GSSAPI, FIDO2 keys) for free.

The master's socket lives in the owner-only login dir under a name derived from how it
logs in, so every kernel, the panel's kernel and the CLI that log in the same way share it.
Starting one is serialised by a file lock: the first process prompts (through the askpass
helper), the others wait and then find it running. ``persist`` bounds its life: past
``started + persist`` it is ended and the next use logs in again (one prompt).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common import prompts
from ..common.errors import TransportError
from ..common.logindir import login_dir
from .askpass import command_argv
from .login_errors import login_failure, methods_used

IDLE_WHEN_PRIVATE = 60  # persist=0: a per-process master ends this long after its last use


@dataclass
class LoginState:
    """What the panel and preflight show about a shared login."""

    logged_in: bool
    started: float | None = None
    expires: float | None = None
    pid: int | None = None
    methods: tuple[str, ...] = ()

    def left(self) -> float | None:
        return None if self.expires is None else max(0.0, self.expires - time.time())

    def to_dict(self) -> dict[str, Any]:
        return {
            "logged_in": self.logged_in,
            "started": self.started,
            "expires": self.expires,
            "pid": self.pid,
            "methods": list(self.methods),
        }


class SharedLogin:
    """The master connection for one way of logging in (see module docstring)."""

    def __init__(
        self,
        ssh_argv: Sequence[str],
        target: Sequence[str],
        key: str,
        *,
        persist: int,
        askpass: str,
        profile: str,
        host: str,
        connect_timeout: float,
    ) -> None:
        self.ssh_argv = list(ssh_argv)  # ssh + the options of this way of logging in
        self.target = list(target)  # ["--", destination]
        self.persist = persist
        self.askpass = askpass
        self.profile, self.host = profile, host
        self.connect_timeout = connect_timeout
        self.name = key if persist > 0 else f"{key}-{os.getpid()}"

    # The login dir is read at each use (CLUSTERLAB_LOGIN_DIR may change, e.g. per test).
    @property
    def control_path(self) -> Path:
        return login_dir() / f"{self.name}.sock"

    @property
    def _lock_path(self) -> Path:
        return login_dir() / f"{self.name}.lock"

    @property
    def _info_path(self) -> Path:
        return login_dir() / f"{self.name}.json"

    @property
    def _log_path(self) -> Path:
        return login_dir() / f"{self.name}.log"

    # -- what clients add ------------------------------------------------------------------
    def client_options(self) -> list[str]:
        """Options of a command that must ride the master and never log in by itself."""
        return [
            "-o",
            "ControlMaster=no",
            "-o",
            f"ControlPath={config_path(self.control_path)}",
            "-o",
            "BatchMode=yes",
            # if the master is gone, fail at once instead of logging in a second time
            "-o",
            "ProxyCommand=false",
            "-o",
            "ProxyJump=none",
        ]

    @staticmethod
    def master_was_gone(stderr: bytes) -> bool:
        """The command could not reach the master, so it did not run."""
        return b"Control socket connect(" in stderr or b"ControlSocket " in stderr

    # -- life --------------------------------------------------------------------------------
    def state(self) -> LoginState:
        pid = self._check()
        info = self._read_info()
        if pid is None:
            return LoginState(False)
        started = info.get("started")
        expires = started + self.persist if started and self.persist > 0 else None
        return LoginState(True, started, expires, pid, tuple(info.get("methods", ())))

    def alive(self) -> bool:
        """Whether the master answers now (after a command's exit 255: did it die?)."""
        return self._check() is not None

    def ensure(self) -> None:
        """Make sure a master runs (logging in, with prompts, if needed)."""
        if self.control_path.exists() and not self._expired():
            return
        with self._locked():
            if self._check() is not None and not self._expired():
                return
            self._exit()
            self._start()

    def relogin(self) -> None:
        """The master vanished under a command: log in again (once, for all processes)."""
        with self._locked():
            if self._check() is not None:
                return  # another process already did
            self._exit()
            self._start()

    def logout(self) -> bool:
        """End the shared login; True if one was running."""
        with self._locked():
            was = self._check() is not None
            self._exit()
            return was

    # -- internals ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Any:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _control(self, op: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                *self.ssh_argv,
                "-o",
                f"ControlPath={config_path(self.control_path)}",
                "-O",
                op,
                *self.target,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=self.connect_timeout,
            check=False,
        )

    def _check(self) -> int | None:
        """The master's pid if one answers on the socket."""
        if not self.control_path.exists():
            return None
        try:
            done = self._control("check")
        except subprocess.TimeoutExpired:
            return None
        found = re.search(rb"pid=(\d+)", done.stderr)
        return int(found.group(1)) if done.returncode == 0 and found else None

    def _expired(self) -> bool:
        if self.persist <= 0:
            return False
        started = self._read_info().get("started")
        return isinstance(started, (int, float)) and time.time() > started + self.persist

    def _read_info(self) -> dict[str, Any]:
        try:
            data = json.loads(self._info_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _exit(self) -> None:
        if self.control_path.exists():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._control("exit")
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()  # a stale socket of a killed master
        with contextlib.suppress(FileNotFoundError):
            self._info_path.unlink()

    def _start(self) -> None:
        persist = self.persist if self.persist > 0 else IDLE_WHEN_PRIVATE
        argv = [
            *self.ssh_argv,
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPath={config_path(self.control_path)}",
            "-o",
            f"ControlPersist={persist}",
            "-o",
            "BatchMode=no",
            "-o",
            "LogLevel=VERBOSE",
            "-f",
            "-N",
            *self.target,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_ASKPASS")}
        env.update(
            SSH_ASKPASS=str(_helper()),
            SSH_ASKPASS_REQUIRE="force",
            CLUSTERLAB_LOGIN_PROFILE=self.profile,
            CLUSTERLAB_LOGIN_HOST=self.host,
        )
        env.pop("CLUSTERLAB_PROMPT_SOCKET", None)
        can_ask = False
        if self.askpass:
            env["CLUSTERLAB_ASKPASS_CMD"] = json.dumps(command_argv(self.askpass))
        elif prompts.current() is not None:
            env["CLUSTERLAB_PROMPT_SOCKET"] = prompts.server().path
            can_ask = True
        limit = self.connect_timeout * 2 + 10 + (prompts.PROMPT_TIMEOUT if can_ask else 0)
        fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=fd,
                env=env,
                start_new_session=True,  # the master outlives this process by design
            )
        finally:
            os.close(fd)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TransportError(
                f"{self.host}: logging in did not finish within {limit:g} s (a prompt left "
                "unanswered, or a network that drops packets); run the call again."
            ) from None
        log = self._log_path.read_text(errors="replace")
        if code != 0:
            raise self._failure(log)
        info = {
            "started": time.time(),
            "persist": self.persist,
            "profile": self.profile,
            "host": self.host,
            "methods": methods_used(log),
        }
        fd = os.open(self._info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)

    def _failure(self, log: str) -> TransportError:
        if "Host key verification failed" in log and "SHA256:" not in log:
            log += "\n" + self._host_key_probe()
        return login_failure(log, self.host, self.profile)

    def _host_key_probe(self) -> str:
        """ssh names the unknown key's fingerprint only in its debug output: ask again,
        verbosely and without any prompt (it stops at the host key, before logging in)."""
        try:
            done = subprocess.run(
                [*self.ssh_argv, "-v", "-o", "BatchMode=yes", "-o", "ControlPath=none",
                 *self.target, "true"],
                stdin=subprocess.DEVNULL, capture_output=True,
                timeout=self.connect_timeout + 5, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return ""
        found = re.search(rb"Server host key: (\S+) (SHA256:\S+)", done.stderr)
        return f"offered {found.group(1).decode()} {found.group(2).decode()}" if found else ""


def end_all(directory: Path) -> int:
    """End every shared login whose socket is in ``directory`` (tests, `clusterlab logout
    --all`); returns how many answered."""
    ended = 0
    for sock in directory.glob("*.sock"):
        if sock.name.startswith("prompt-"):
            continue
        done = subprocess.run(
            ["ssh", "-o", f"ControlPath={config_path(sock)}", "-O", "exit", "clusterlab"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
        ended += done.returncode == 0
    return ended


def _helper() -> Path:
    """An executable wrapper for SSH_ASKPASS (it takes a path, not a command line)."""
    script = Path(__file__).with_name("askpass.py")
    text = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} "$@"\n'
    # one file per Python and installation: kernels of different venvs never overwrite it
    path = login_dir() / f"askpass-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def config_path(path: Path | str) -> str:
    """A path as an ssh -o value: ``%`` escaped (ssh expands tokens), quoted for spaces."""
    text = str(path)
    if '"' in text or "\n" in text:
        raise TransportError(
            f"{text!r}: a path with a double quote or a line break cannot be given to ssh"
        )
    return '"' + text.replace("%", "%%") + '"'
