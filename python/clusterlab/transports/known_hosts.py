"""Reading known_hosts files the way OpenSSH does, where paramiko does not.

paramiko raises on the marker lines OpenSSH allows (``@cert-authority``, ``@revoked``),
so a file that works with ``ssh`` would stop clusterlab with a raw exception. Here plain
lines become paramiko host keys, ``@revoked`` keys are refused whatever else the file
says, and ``@cert-authority`` lines (host certificates, which paramiko cannot check) are
noted so an unknown key can be explained. Malformed lines are skipped, as OpenSSH does.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import paramiko

from ..common.errors import HostKeyError


@dataclass
class Markers:
    """What the marker lines of a known_hosts file said."""

    revoked: list[paramiko.PKey] = field(default_factory=list)
    authorities: list[str] = field(default_factory=list)  # host patterns with a CA line


def load(path: str, into: paramiko.HostKeys, markers: Markers) -> None:
    """Add the plain entries of ``path`` to ``into`` and its markers to ``markers``."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except (paramiko.SSHException, ValueError, binascii.Error):
                continue  # a line paramiko cannot read (an unknown key type): skipped
            if entry is None or entry.key is None:
                continue
            if marker == "@revoked":
                markers.revoked.append(entry.key)
            elif marker == "@cert-authority":
                markers.authorities.extend(entry.hostnames)
            elif not marker:
                for name in entry.hostnames:
                    into.add(name, entry.key.get_name(), entry.key)


def refuse_revoked(markers: Markers, key: paramiko.PKey, where: str, path: str) -> None:
    """A key listed as ``@revoked`` is refused even when another line trusts it."""
    if any(key == revoked for revoked in markers.revoked):
        raise HostKeyError(
            f"the SSH host key of {where} is marked @revoked in {path}: refusing to connect. "
            "Ask your admins for the host's new key."
        )


def refuse_other_type(
    known: paramiko.HostKeys, hostname: str, key: paramiko.PKey, path: str
) -> None:
    """Trust on first use is for hosts with no key at all. A host already known by a key
    of another type that now offers this one is refused, as OpenSSH does: a first
    connection can be trusted, a changed server cannot (someone in between may offer
    the type that was not recorded)."""
    entries = known.lookup(hostname)
    others = sorted(set(entries.keys()) - {key.get_name()}) if entries is not None else []
    if others:
        raise HostKeyError(
            f"{hostname} offered a {key.get_name()} host key ({fingerprint(key)}), but "
            f"{path} knows it by a {', '.join(others)} key: trust on first use only adds "
            "keys of hosts it has never seen, so this is refused. If the host really has a "
            f"new key, check its fingerprint with your admins and add it (`ssh-keyscan -t "
            f"{key.get_name()} HOST >> {path}`)."
        )


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as OpenSSH prints it."""
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
