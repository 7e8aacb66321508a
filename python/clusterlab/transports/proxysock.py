"""A ProxyCommand's connection as a socket, for paramiko.

Why not ``paramiko.ProxyCommand``: it reads the command's stdout pipe through
``select()``, which refuses any descriptor numbered 1024 or more ("filedescriptor out of
range in select()"). A kernel that has opened many files, sockets or connections gets
such numbers, and its next login through a jump host then failed with that message. Here
the command's stdin and stdout are one end of a socket pair (as OpenSSH runs a
ProxyCommand) and paramiko gets the other end, an ordinary socket whose reads time out
without ``select()``.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import threading

from ..common.errors import TransportError


class ProxySocket:
    """The local end of a running ProxyCommand; closing it ends the command."""

    def __init__(self, command: str) -> None:
        argv = shlex.split(command)
        if not argv:
            raise TransportError("the ssh config's ProxyCommand is empty")
        ours, theirs = socket.socketpair()
        try:
            # stderr is inherited: what the proxy says (a refused jump host) reaches the
            # kernel's or the terminal's log, as OpenSSH shows it.
            self._process = subprocess.Popen(  # (argv from the user's own ssh config)
                argv, stdin=theirs.fileno(), stdout=theirs.fileno(), close_fds=True
            )
        except OSError as exc:
            ours.close()
            raise TransportError(f"cannot run the ProxyCommand {command!r}: {exc}") from None
        finally:
            theirs.close()
        self._sock = ours
        self._ended = False

    @property
    def closed(self) -> bool:
        return self._ended

    @property
    def _closed(self) -> bool:  # what paramiko's Transport asks a socket when it stops
        return self._ended

    def send(self, data: bytes) -> int:
        return self._sock.send(data)

    def recv(self, size: int) -> bytes:
        return self._sock.recv(size)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        """Close our end (the command sees end of file) and reap the command, killing it
        if it lingers, on a thread: closing a connection never waits for it."""
        if self._ended:
            return
        self._ended = True
        self._sock.close()
        threading.Thread(target=self._reap, name="clusterlab-proxy-reap", daemon=True).start()

    def _reap(self) -> None:
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
