"""The kernel's ports on this machine: SSH local forwards on the profile's shared login.

The shared login (an OpenSSH ControlMaster, :mod:`clusterlab.transports.sharedlogin`) is
asked to add each forward (``ssh -O forward -L 127.0.0.1:LOCAL:NODE:PORT``) and to drop it
again (``-O cancel``): no ssh process of our own stays behind, nothing listens on any
interface but this machine's loopback, and the forwards ride the login every notebook,
the panel and the CLI already share (no second login, no second prompt). The paramiko
client has no such master: kernels on a cluster need the ``ssh`` command (ssh_client
'openssh' or 'auto').
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..common.errors import TransportError
from ..transports.base import Transport

ATTEMPTS = 5  # a port picked free can be taken before ssh binds it: pick again


def free_local_port() -> int:
    """A port on this machine's loopback that nothing holds now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spec(local: int, ip: str, port: int) -> str:
    target = f"[{ip}]" if ":" in ip else ip
    return f"127.0.0.1:{local}:{target}:{port}"


@dataclass
class Forwards:
    """The forwards of one kernel generation; ``close()`` drops them all."""

    transport: Transport
    specs: list[str] = field(default_factory=list)

    def _control(
        self, op: str, spec: str, *, login: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        from ..transports.openssh import OpenSSHTransport

        transport = self.transport
        if not isinstance(transport, OpenSSHTransport):
            raise TransportError(
                f"{transport.label}: a notebook kernel on the cluster reaches its ports "
                "through the shared OpenSSH login; set the profile's ssh_client to "
                "'openssh' (or 'auto' with the ssh command installed)"
            )
        if login:  # adding a forward may log in; dropping one never does
            transport.login.ensure()
        argv = [
            *transport.argv,
            *transport.login.client_options(),
            "-O",
            op,
            "-L",
            spec,
            "--",
            transport.profile.host,
        ]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)

    def open(self, ip: str, ports: Sequence[int]) -> list[int]:
        """Forward each of ``ports`` on ``ip`` (as the login host sees it) to a loopback
        port here; returns the local ports in the same order."""
        local_ports = []
        for port in ports:
            for attempt in range(ATTEMPTS):
                local = free_local_port()
                spec = _spec(local, ip, port)
                done = self._control("forward", spec)
                if done.returncode == 0:
                    self.specs.append(spec)
                    local_ports.append(local)
                    break
                if attempt == ATTEMPTS - 1:
                    self.close()
                    raise TransportError(
                        f"{self.transport.label}: the shared login refused to forward "
                        f"{spec}: {done.stderr.decode(errors='replace').strip()[-300:]}"
                    )
        return local_ports

    def close(self) -> None:
        """Drop every forward (a login that already ended took them with it)."""
        while self.specs:
            spec = self.specs.pop()
            # a master that is gone or hung took its forwards with it
            with contextlib.suppress(subprocess.TimeoutExpired, TransportError):
                self._control("cancel", spec, login=False)
