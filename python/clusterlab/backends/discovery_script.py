"""One round trip for discovery: several scheduler commands in one constant ``sh`` script,
each one's output and exit status printed under a marker line, split apart here.

Why one script: a refresh must cost the cluster's login node one SSH command, not one per
question (``sinfo``, ``scontrol``, ``sacctmgr``...), so that many kernels refreshing in the
background stay invisible to its admins. The script is constant; nothing of the user's goes
into it (the user name is the login's own, ``id -un``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..common.errors import TransportError
from ..transports.base import Transport

MARK = "@@clusterlab-discovery@@"


@dataclass(frozen=True)
class Section:
    """What one command of the script printed (stdout and stderr together) and its status."""

    out: str
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 0

    def first_line(self) -> str:
        """The first non-empty line, for a sentence saying why it failed."""
        return next((ln.strip() for ln in self.out.splitlines() if ln.strip()), "no output")


def build(commands: Sequence[tuple[str, str]]) -> str:
    """A script running each ``(name, shell command)``, each under ``MARK name`` and followed
    by ``MARK name status N``."""
    lines = []
    for name, command in commands:
        lines.append(f"echo '{MARK} {name}'")
        lines.append(f'( {command} ) 2>&1; echo "{MARK} {name} status $?"')
    return "\n".join(lines) + "\n"


def parse(stdout: str) -> dict[str, Section]:
    """The sections of the script's output, by name."""
    out: dict[str, Section] = {}
    name, body = "", list[str]()
    for line in stdout.splitlines():
        if line.startswith(MARK + " "):
            words = line[len(MARK) + 1 :].split()
            if len(words) == 3 and words[1] == "status" and words[0] == name:
                status = int(words[2]) if words[2].lstrip("-").isdigit() else 1
                out[name] = Section("\n".join(body), status)
                name, body = "", list[str]()
            elif words:
                name, body = words[0], []
            continue
        if name:
            body.append(line)
    return out


def run(
    transport: Transport,
    commands: Sequence[tuple[str, str]],
    wrap: Callable[[list[str]], list[str]] | None = None,
    args: Sequence[str] = (),
) -> dict[str, Section]:
    """Run the commands in one round trip; raise if the script itself could not run.
    ``wrap``: how the backend runs a scheduler command (Grid Engine sources its settings);
    ``args``: values the commands read as ``"$@"`` (never part of the script's text)."""
    argv = ["sh", "-c", build(commands), "sh", *args]
    res = transport.run(wrap(argv) if wrap else argv)
    sections = parse(res.out)
    if not sections:
        raise TransportError(
            f"discovery on {transport.label} printed nothing it understands "
            f"(exit {res.returncode}: {res.err.strip() or res.out.strip()[:200]})"
        )
    return sections
