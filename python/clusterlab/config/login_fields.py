"""Profile fields about logging in over SSH: who answers the server's prompts, how long
one login is shared, which SSH client makes it. Apart from :mod:`.profile` because they
belong together (transports/sharedlogin.py reads all three) and apply to SSH kinds only.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from ..common import kinds as registry
from .fieldmeta import meta as _meta

SSH_CLIENTS = ("auto", "openssh", "paramiko")


def check_askpass(value: Any) -> str:
    """A command line split like a shell would, but never run by one."""
    import shlex

    if not isinstance(value, str):
        raise ValueError("must be text: a command such as '~/bin/otp-code'")
    text = value.strip()
    if "\n" in text or "\r" in text:
        raise ValueError("must be one line: a command and its arguments")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot be split into a command and arguments ({exc})") from None
    if argv and argv[0].startswith("-"):
        raise ValueError("must start with a command, not an option")
    return text


def check_persist(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number of seconds, e.g. 28800 for 8 hours (0: no sharing)")
    try:
        seconds = int(float(value))
    except ValueError:
        raise ValueError("must be a number of seconds, e.g. 28800 for 8 hours") from None
    if seconds < 0 or seconds > 30 * 86400:
        raise ValueError("must be between 0 (no shared login) and 2592000 (30 days) seconds")
    return seconds


def check_ssh_client(value: Any) -> str:
    text = str(value or "auto").strip().lower()
    if text not in SSH_CLIENTS:
        raise ValueError(f"must be one of {', '.join(SSH_CLIENTS)}, not {value!r}")
    return text


def askpass() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Answer prompts with",
            "A command that answers the login server's prompts (one-time code, password), run "
            "without a shell with the prompt as its last argument; it prints the answer, "
            "e.g. '~/bin/otp-code' wrapping oathtool, or your password manager's CLI. Empty: "
            "you are asked in the lab panel, under the notebook cell, or in the terminal.",
            "~/bin/otp-code",
            kinds=registry.remote_names(),
            check=check_askpass,
        ),
    )


def persist() -> Any:
    return field(
        default=8 * 3600,
        metadata=_meta(
            "Keep login (seconds)",
            "How long one login (and its one-time code) is shared by every notebook, the "
            "panel and the CLI on this machine before you are asked again: 28800 is 8 hours. "
            "0: each process logs in alone. 'clusterlab logout NAME' ends it early.",
            "28800",
            kinds=registry.remote_names(),
            check=check_persist,
            widget="int",
        ),
    )


def ssh_client() -> Any:
    return field(
        default="auto",
        metadata=_meta(
            "SSH client",
            "'openssh': the ssh command of this machine, sharing one login between processes "
            "(every ssh_config feature, certificates, security keys). 'paramiko': built in, "
            "for machines without ssh (Windows); each process logs in alone. 'auto': openssh "
            "when the ssh command exists, else paramiko.",
            "auto",
            kinds=registry.remote_names(),
            check=check_ssh_client,
            widget="choice",
            choices=SSH_CLIENTS,
        ),
    )
