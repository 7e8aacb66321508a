"""Reading what ``ssh`` printed while logging in: the sentence for a failed login (host key
unknown, changed or revoked; a prompt nobody could answer; a refused key; an unreachable
host) and, for a good one, how the server let us in.
"""

from __future__ import annotations

import json
import re

from ..common import prompts
from ..common.errors import HostKeyError, TransportError
from .askpass import MARK


def login_failure(log: str, where: str, profile: str) -> TransportError:
    """The sentence for a failed ``ssh`` login, from what it (and the helper) printed."""
    for line in log.splitlines():
        if line.startswith(MARK):
            try:
                note = json.loads(line[len(MARK) :])
            except ValueError:
                continue
            request = prompts.PromptRequest(str(note.get("prompt", "")), profile, where)
            if note.get("kind") == "unanswered":
                if re.search(r"'s password:\s*$", request.prompt):  # OpenSSH's own prompt
                    return prompts.PromptUnanswered(
                        f"{where}: authentication failed: the server did not accept your key "
                        f"and asks for a password ({request.prompt.strip()!r}), which nothing "
                        "here can answer. Check the user name and that your public key is in "
                        "~/.ssh/authorized_keys on the host (`ssh-copy-id` installs it), or "
                        "set key_file on the profile; for a site that wants a password, set "
                        "the profile's askpass or log in from JupyterLab or a terminal."
                    )
                return prompts.PromptUnanswered(
                    str(note.get("detail") or "") or prompts.how_to_answer(request)
                )
            return prompts.PromptUnanswered(
                f"{where} asks {request.prompt.strip()!r} to log in (profile {profile!r}) and "
                f"the askpass command failed: {note.get('detail', '')}. Check the profile's "
                "askpass command in a terminal."
            )
    fingerprint = re.search(r"(SHA256:[A-Za-z0-9+/]+)", log)
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in log:
        return HostKeyError(
            f"the SSH host key of {where} has CHANGED (it now offers "
            f"{fingerprint.group(1) if fingerprint else 'another key'}). This can mean someone "
            "is intercepting the connection, or the host was reinstalled. Ask your admins; if "
            f"the change is expected, remove the old line with `ssh-keygen -R '{where}' -f "
            "KNOWN_HOSTS` and connect again."
        )
    if "REVOKED HOST KEY" in log or ("revoked" in log.lower() and "host key" in log.lower()):
        return HostKeyError(
            f"the SSH host key of {where} is marked @revoked in known_hosts: clusterlab will "
            "not connect. Ask your admins for the host's current key."
        )
    if "Host key verification failed" in log or "host key is known" in log:
        offered = re.search(r"offered (\S+ SHA256:\S+)", log)
        return HostKeyError(
            f"the SSH host key of {where} is not known"
            + (f" ({offered.group(1)})" if offered else "")
            + ". Check the fingerprint with your cluster's documentation or admins, then "
            "trust it by connecting once with `ssh` and answering 'yes', or with "
            "`ssh-keyscan` into the profile's known_hosts file; or set "
            "trust_on_first_use=True on the profile (only on a network you trust). A host "
            "signed by a certificate authority needs a `@cert-authority` line for it."
        )
    if "Permission denied" in log or "Too many authentication failures" in log:
        return TransportError(
            f"{where}: authentication failed ({_last_line(log, 'Permission denied')}). Check "
            "the user name and that your public key is in ~/.ssh/authorized_keys on the host "
            "(`ssh-copy-id` installs it), or set key_file on the profile; a one-time code "
            "that was refused can be entered again on the next try."
        )
    return TransportError(
        f"cannot reach {where}: {_last_line(log, '')}. Check the host name and port, and your "
        "VPN or network; `ssh` from a terminal shows the same problem if it is the network."
    )


def _last_line(log: str, containing: str) -> str:
    lines = [
        ln.strip()
        for ln in log.splitlines()
        if ln.strip()
        and not ln.startswith(("debug", "Authenticated", "Warning: Permanently"))
        and containing in ln
    ]
    return lines[-1] if lines else "ssh gave no reason"


def methods_used(log: str) -> list[str]:
    """How the server let us in, e.g. ["publickey", "keyboard-interactive"] (from ssh's
    VERBOSE log: partial successes, then the final method)."""
    found = re.findall(r'Authenticated (?:using|to .*? using) "([^"]+)"', log)
    methods: list[str] = []
    for method in found:
        if method not in methods:
            methods.append(method)
    if re.search(r"Server accepts key: .*-CERT", log) or "-cert" in " ".join(
        re.findall(r"Offering public key: (\S+)", log)
    ):
        methods = ["certificate" if m == "publickey" else m for m in methods]
    return methods
