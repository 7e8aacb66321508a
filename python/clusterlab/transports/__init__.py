"""How commands reach a cluster: a local subprocess or an SSH channel.

A transport knows how to run an argv list (never through a local shell) with optional
stdin bytes, and nothing about schedulers. Multi-step remote work is written as a constant
``sh -c`` script whose values are passed as positional arguments, so no value is ever
interpolated into shell code.
"""

from __future__ import annotations

import os
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
            profile.askpass,
            profile.persist,
            chosen_client(profile),
        )
    with _pool_lock:
        transport = _pool.get(key)
        if transport is None:
            if key[0] == "local":
                transport = LocalTransport()
            elif key[-1] == "openssh":
                from .openssh import OpenSSHTransport, ssh_binary

                transport = OpenSSHTransport(profile, ssh_binary() or "ssh")
            else:
                from .ssh import SSHTransport

                transport = SSHTransport(profile)
            _pool[key] = transport
        # profiles with the same login share it: prompts name each of them
        names = getattr(transport, "profile_names", None)
        if isinstance(names, list) and profile.name not in names:
            names.append(profile.name)
        return transport


def chosen_client(profile: Profile) -> str:
    """'openssh' or 'paramiko' for this profile ('auto': ``$CLUSTERLAB_SSH_CLIENT`` if set,
    else openssh when the ssh command exists)."""
    if profile.ssh_client in ("openssh", "paramiko"):
        return profile.ssh_client
    chosen = os.environ.get("CLUSTERLAB_SSH_CLIENT", "")  # a machine-wide choice for 'auto'
    if chosen in ("openssh", "paramiko"):
        return chosen
    from .openssh import ssh_binary

    return "openssh" if ssh_binary() and os.name == "posix" else "paramiko"


def logout(profile: Profile) -> bool:
    """End the profile's shared login (every process using it); True if one was running.
    A paramiko connection is per process: this process's is closed."""
    if not profile.is_remote:
        return False
    transport = get_transport(profile)
    from .openssh import OpenSSHTransport

    if isinstance(transport, OpenSSHTransport):
        return transport.login.logout()
    transport.close()
    return True


def close_all() -> None:
    """Close every pooled connection (tests and interpreter exit)."""
    with _pool_lock:
        for transport in _pool.values():
            transport.close()
        _pool.clear()


__all__ = [
    "CommandResult",
    "LocalTransport",
    "Transport",
    "chosen_client",
    "close_all",
    "get_transport",
    "logout",
]
