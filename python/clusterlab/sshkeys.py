"""Set up key login once: make an ed25519 key if needed, install it with a password typed
once (used for that connection only, never stored or logged), then prove key login works.

Key generation uses ``cryptography`` (paramiko's own dependency) because paramiko cannot
generate ed25519 keys.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import profiles
from .common.errors import TransportError
from .config.profile import Profile
from .transports.ssh import SSHTransport
from .transports.ssh_endpoint import resolve_endpoint

# Append the key once; values arrive as "$1", never inside the script.
_INSTALL = r"""
umask 077
mkdir -p "$HOME/.ssh" && touch "$HOME/.ssh/authorized_keys" || exit 1
grep -qxF "$1" "$HOME/.ssh/authorized_keys" || printf '%s\n' "$1" >> "$HOME/.ssh/authorized_keys"
"""


def ensure_key(path: str = "~/.ssh/id_ed25519") -> tuple[Path, str]:
    """The key at ``path`` (created 0600 if missing) and its public line."""
    key_path = Path(os.path.expanduser(path))
    if not key_path.exists():
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        pub_path = key_path.with_name(key_path.name + ".pub")
        pub_path.write_text(public.decode() + " clusterlab\n")
    pub_path = key_path.with_name(key_path.name + ".pub")
    if pub_path.exists():
        public_line = pub_path.read_text().split("\n")[0].strip()
    else:
        loaded = paramiko.PKey.from_path(key_path)
        public_line = f"{loaded.get_name()} {loaded.get_base64()}"
    return key_path, public_line


def setup_ssh_key(
    profile: str | Profile,
    password: str,
    key_file: str = "~/.ssh/id_ed25519",
    on_step: Callable[[str], None] | None = None,
) -> Profile:
    """Install a key for ``profile`` using ``password`` once, verify key login, save.

    The host key is verified exactly as for jobs (known_hosts, or TOFU when the profile
    opts in). The password lives only in this call's arguments.
    """
    step = on_step or (lambda text: None)
    p = profiles.resolve(profile) if isinstance(profile, str) else profile
    if not p.is_remote:
        raise TransportError(f"profile {p.name!r} has no host: there is nothing to log in to")
    key_path, public_line = ensure_key(key_file)
    step(f"key: {key_path} ({public_line.split()[0]})")
    ep = resolve_endpoint(p)
    client = SSHTransport(p).client_for(ep, password=password)  # verifies the host key
    try:
        step(f"logged in to {ep.user}@{ep.hostname}:{ep.port} with the password")
        _, stdout, stderr = client.exec_command(
            f"sh -c {shlex.quote(_INSTALL)} sh {shlex.quote(public_line)}", timeout=30
        )
        if stdout.channel.recv_exit_status() != 0:
            raise TransportError(f"could not add the key: {stderr.read().decode().strip()}")
        step("public key added to ~/.ssh/authorized_keys")
    finally:
        client.close()
        del password
    keyed = replace(p, key_file=str(key_path))
    check = SSHTransport(keyed)
    try:
        res = check.run(["true"])
        if res.returncode != 0:
            raise TransportError(f"key login did not work: {res.err.strip()}")
    finally:
        check.close()
    step("key login works")
    saved = profiles.save(Profile.from_dict(keyed.to_dict()))
    step(f"profile {saved.name!r} now uses {key_path}")
    return saved
