"""How a profile logs in, for preflight and the panel: the shared login's state, the
certificate offered (its CA and validity), and the ssh_config options a client ignores.

Never logs in and never prompts: it reads the master's socket and info file, ``ssh -G``
and ``ssh-keygen -L``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.profile import Profile

WARN_WITHIN = 3600.0  # a certificate or shared login ending sooner than this is a warning

PARAMIKO_HONOURED = frozenset(
    {
        "host",
        "hostname",
        "user",
        "port",
        "identityfile",
        "proxyjump",
        "proxycommand",
        "certificatefile",
        "identitiesonly",
        "connecttimeout",
        "serveraliveinterval",
    }
)
"""ssh_config options the paramiko client applies; preflight names any other one set."""


@dataclass
class Certificate:
    """A user certificate as ``ssh-keygen -L`` describes it."""

    path: str
    ca: str
    valid_to: float | None  # None: forever

    def describe(self) -> str:
        until = (
            "no expiry"
            if self.valid_to is None
            else "valid until " + datetime.fromtimestamp(self.valid_to).strftime("%Y-%m-%d %H:%M")
        )
        return f"certificate from CA {self.ca}, {until}"


def read_certificate(path: str) -> Certificate | None:
    try:
        done = subprocess.run(
            ["ssh-keygen", "-L", "-f", path], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    ca = re.search(r"Signing CA: \S+ (SHA256:\S+)", done.stdout)
    valid = re.search(r"Valid: (?:from \S+ to (\S+)|(forever))", done.stdout)
    valid_to: float | None = None
    if valid and valid.group(1):
        valid_to = datetime.fromisoformat(valid.group(1)).timestamp()
    return Certificate(path, ca.group(1) if ca else "?", valid_to)


def certificates(identity_files: list[str], certificate_files: list[str]) -> list[Certificate]:
    """The user certificates ssh would offer: CertificateFile, and ``<key>-cert.pub``."""
    paths = [os.path.expanduser(p) for p in certificate_files]
    paths += [os.path.expanduser(p) + "-cert.pub" for p in identity_files]
    found = []
    for path in dict.fromkeys(paths):
        if os.path.isfile(path):
            cert = read_certificate(path)
            if cert is not None:
                found.append(cert)
    return found


def duration(seconds: float) -> str:
    """'6 h 40 min', '12 min'."""
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def describe(profile: Profile) -> dict[str, Any]:
    """What the panel's card shows: shared or not, logged in, when it ends, how."""
    from . import chosen_client, get_transport

    if not profile.is_remote:
        return {"shared": False, "logged_in": True, "state": "local", "expires": None}
    client = chosen_client(profile)
    if client != "openssh":
        return {
            "shared": False,
            "logged_in": None,
            "state": "per-process",
            "expires": None,
            "client": client,
        }
    transport: Any = get_transport(profile)
    state = transport.login.state()
    left = state.left()
    expired = state.logged_in and left is not None and left <= 0
    if expired:
        label = "expired"
    elif state.logged_in:
        label = "logged in"
    else:
        label = "needs a login"
    return {
        "shared": profile.persist > 0,
        "logged_in": state.logged_in and not expired,
        "state": label,
        "expires": state.expires,
        "left": None if left is None else duration(left),
        "methods": list(state.methods),
        "client": client,
    }


def ignored_options(profile: Profile) -> list[str]:
    """ssh_config options set for this host that the paramiko client does not apply."""
    import paramiko

    path = os.path.expanduser(profile.ssh_config)
    if not profile.ssh_config or not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    found = sorted(
        {
            m.group(1).lower()
            for m in re.finditer(r"^\s*([A-Za-z]+)[\s=]", text, re.MULTILINE)
            if m.group(1).lower() in ("include", "match")
        }
    )
    looked = paramiko.SSHConfig.from_path(path).lookup(profile.host)
    found += sorted(k for k in looked if k not in PARAMIKO_HONOURED)
    return found


def login_lines(profile: Profile, transport: Any) -> list[tuple[str, bool, str, str]]:
    """Preflight's ``(name, ok, detail, level)`` lines about the login itself."""
    from .openssh import OpenSSHTransport

    lines: list[tuple[str, bool, str, str]] = []
    now = time.time()
    if isinstance(transport, OpenSSHTransport):
        state = transport.login.state()
        methods = list(state.methods)
        certs = certificates(
            transport.config.get("identityfile", []), transport.config.get("certificatefile", [])
        )
        if certs and "publickey" in methods:
            methods[methods.index("publickey")] = certs[0].describe()
        elif "publickey" in methods:
            methods[methods.index("publickey")] = "key"
        words = {"keyboard-interactive": "one-time code or password", "password": "password"}
        how = " + ".join(words.get(m, m) for m in methods) or "logged in"
        if profile.persist > 0 and state.expires is not None:
            left = state.expires - now
            how += f"; shared login, {duration(left)} left"
            if left < WARN_WITHIN:
                lines.append(("auth", True, how + " (it ends within the hour: you will be "
                              "asked to log in again then)", "warning"))  # fmt: skip
                return lines
        elif profile.persist <= 0:
            how += "; this process logs in alone (persist=0)"
        for cert in certs:
            if cert.valid_to is not None and cert.valid_to - now < WARN_WITHIN:
                lines.append(("auth", True, how + f"; the certificate {cert.path} ends within "
                              "the hour: renew it", "warning"))  # fmt: skip
                return lines
        lines.append(("auth", True, how, "ok"))
        return lines
    skipped = ignored_options(profile)
    lines.append(("auth", True, "logged in with paramiko (this process only)", "ok"))
    if skipped:
        lines.append(
            (
                "ssh config",
                True,
                f"the paramiko client ignores {', '.join(skipped)} from {profile.ssh_config}; "
                "use ssh_client='openssh' (the ssh command) to apply them",
                "warning",
            )
        )
    return lines
