"""Which process on this machine holds which kernel job, so a restarted server can adopt it.

A kernel job outlives the Jupyter server that started it (the supervisor keeps the
allocation while its kernel runs). When the server comes back and the same kernelspec is
started again, submitting a second job would queue again and leave the first holding its
allocation until its time limit. Each provisioner therefore keeps a small file here,
``<data dir>/kernels/<kernel id>.json`` (0600 in a 0700 dir), naming its process, its
kernelspec, its job, its control dir and its forwards; a file whose process is gone marks
a job that a new start of the same kernelspec may take over (:func:`orphans`,
:func:`claim`). The file holds no key: that stays in the control dir on the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config.paths import data_dir, private_dir, write_private


@dataclass
class Owner:
    """One kernel job and the provisioner process that holds it."""

    kernel_id: str
    kernel_name: str  # the kernelspec
    profile: str
    job: str  # the clusterlab job id (the ledger's)
    control: str  # the kernel's control dir on the cluster
    generation: int
    forwards: list[str] = field(default_factory=list)  # `ssh -O forward -L` specs
    pid: int = 0
    started: str = ""  # the process's start time, so a reused pid is not taken for it
    host: str = ""


def _dir() -> Path:
    return data_dir() / "kernels"


def _start_time(pid: int) -> str | None:
    """The process's start time (Linux /proc), "" where unknown, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    return text.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command


def _alive(owner: Owner) -> bool:
    if owner.host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    if Path("/proc/self/stat").exists():
        started = _start_time(owner.pid)
        return started is not None and (not owner.started or started == owner.started)
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record(owner: Owner) -> None:
    """Say that this process holds ``owner.job`` (written again after each restart)."""
    owner.pid = os.getpid()
    owner.started = _start_time(owner.pid) or ""
    owner.host = socket.gethostname()
    private_dir(_dir())
    write_private(_dir() / f"{owner.kernel_id}.json", json.dumps(asdict(owner)).encode())


def forget(kernel_id: str) -> None:
    """The kernel ended (or was never started): nothing to adopt."""
    with contextlib.suppress(FileNotFoundError):
        (_dir() / f"{kernel_id}.json").unlink()


def orphans(kernel_name: str, profile: str) -> list[Owner]:
    """Kernel jobs of this kernelspec whose provisioner's process is gone, newest first."""
    found = []
    for path in _dir().glob("*.json") if _dir().is_dir() else []:
        try:
            owner = Owner(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # half-written by a process that died, or not ours: never adopted
        if owner.kernel_name == kernel_name and owner.profile == profile and not _alive(owner):
            found.append((path.stat().st_mtime, owner))
    return [owner for _, owner in sorted(found, key=lambda f: f[0], reverse=True)]


def claim(owner: Owner, kernel_id: str) -> bool:
    """Take ``owner``'s job for kernel ``kernel_id``; False when another start took it
    first (the rename is atomic, so two servers starting at once never share a job)."""
    try:
        os.rename(_dir() / f"{owner.kernel_id}.json", _dir() / f"{kernel_id}.json")
    except FileNotFoundError:
        return False
    return True
