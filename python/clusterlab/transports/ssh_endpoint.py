"""What ``~/.ssh/config`` says about a host, for the paramiko client (the ssh binary reads
it itself): the options paramiko applies, where the profile's own fields win. Preflight
names the options that are set but not applied (transports/login_state.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import paramiko

from ..config.profile import Profile

CONNECT_TIMEOUT = 15.0


@dataclass
class Endpoint:
    """Where to connect after ~/.ssh/config is applied."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: list[str] = field(default_factory=list)
    proxy_jump: str = ""
    proxy_command: str = ""
    certificate_files: list[str] = field(default_factory=list)
    identities_only: bool = False
    connect_timeout: float = CONNECT_TIMEOUT
    keepalive: int = 30


def resolve_endpoint(profile: Profile, alias: str | None = None) -> Endpoint:
    """Apply ~/.ssh/config to a host alias; the profile's own non-empty fields win."""
    alias = alias or profile.host
    config_path = os.path.expanduser(profile.ssh_config)
    cfg: dict[str, Any] = {}
    if profile.ssh_config and os.path.isfile(config_path):
        cfg = dict(paramiko.SSHConfig.from_path(config_path).lookup(alias))
    is_main = alias == profile.host
    user = (profile.user if is_main else "") or cfg.get("user") or _local_user()
    # A non-default port on the profile wins; otherwise the config's Port, else 22.
    port = profile.port if is_main and profile.port != 22 else int(cfg.get("port", 22))
    keys = [os.path.expanduser(profile.key_file)] if profile.key_file else []
    keys += [
        os.path.expanduser(k)
        for k in cfg.get("identityfile", [])
        if os.path.exists(os.path.expanduser(k))
    ]
    return Endpoint(
        alias=alias,
        hostname=cfg.get("hostname", alias),
        port=port,
        user=user,
        key_files=keys,
        proxy_jump=cfg.get("proxyjump", "") if cfg.get("proxyjump", "none") != "none" else "",
        proxy_command=(
            cfg.get("proxycommand", "") if cfg.get("proxycommand", "none") != "none" else ""
        ),
        certificate_files=[os.path.expanduser(c) for c in cfg.get("certificatefile", [])],
        identities_only=str(cfg.get("identitiesonly", "no")).lower() == "yes",
        connect_timeout=float(cfg["connecttimeout"])
        if str(cfg.get("connecttimeout", "")).isdigit()
        else CONNECT_TIMEOUT,
        keepalive=int(cfg["serveraliveinterval"])
        if str(cfg.get("serveraliveinterval", "")).isdigit() and int(cfg["serveraliveinterval"]) > 0
        else 30,
    )


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def certified_key(ep: Endpoint) -> paramiko.PKey | None:
    """The first key with a CertificateFile given for it (a ``KEY-cert.pub`` beside a
    key is loaded by paramiko itself)."""
    if not ep.certificate_files or not ep.key_files:
        return None
    key = paramiko.PKey.from_path(ep.key_files[0])
    key.load_certificate(ep.certificate_files[0])
    return key
