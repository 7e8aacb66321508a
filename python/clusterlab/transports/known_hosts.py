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
