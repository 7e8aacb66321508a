"""How commands reach a cluster: a local subprocess or an SSH channel.

A transport knows how to run an argv list (never through a local shell) with optional
stdin bytes, and nothing about schedulers. Multi-step remote work is written as a constant
``sh -c`` script whose values are passed as positional arguments, so no value is ever
interpolated into shell code.
"""

from __future__ import annotations

import threading

from ..config.profile import Profile
from .base import CommandResult, Transport
from .local import LocalTransport

_pool: dict[tuple[object, ...], Transport] = {}
_pool_lock = threading.Lock()


def get_transport(profile: Profile) -> Transport:
    """The shared transport for ``profile``: one persistent SSH connection per host."""
    if not profile.is_remote:
        key: tuple[object, ...] = ("local",)
    else:
        key = (
            "ssh",
            profile.host,
            profile.port,
            profile.user,
            profile.key_file,
            profile.known_hosts,
            profile.trust_on_first_use,
            profile.ssh_config,
        )
    with _pool_lock:
        transport = _pool.get(key)
        if transport is None:
            if key[0] == "local":
                transport = LocalTransport()
            else:
                from .ssh import SSHTransport

                transport = SSHTransport(profile)
            _pool[key] = transport
        return transport


def close_all() -> None:
    """Close every pooled connection (tests and interpreter exit)."""
    with _pool_lock:
        for transport in _pool.values():
            transport.close()
        _pool.clear()


__all__ = ["CommandResult", "LocalTransport", "Transport", "close_all", "get_transport"]
