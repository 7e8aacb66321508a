"""The GPUs of this machine, handed out to local jobs one job per GPU.

What a job asking ``gpus=N`` gets on the ``local`` scheduler: N GPUs of those this
machine shows (``CUDA_VISIBLE_DEVICES`` of the kernel when set, else ``nvidia-smi -L``),
named to the job in its ``CUDA_VISIBLE_DEVICES``, and no other job's. A job asking none
gets ``CUDA_VISIBLE_DEVICES=""`` where GPUs exist, so it cannot take one another job holds
(as a cluster's scheduler confines a job to its own devices). A request larger than the
machine is refused with a sentence; one that fits waits for free GPUs.

Claims are files, one per GPU, in the data dir (``gpu-claims/<id>``), created with
``O_EXCL`` and holding the pid of the job's process: every kernel on the machine sees
them, and a claim whose process ended (a kernel killed mid-job) is taken over, not kept
forever.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..common.errors import SubmitError
from ..common.processes import pid_alive
from ..config.paths import data_dir, private_dir

VISIBLE_VAR = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> list[str]:
    """The GPU ids jobs may be given: the kernel's CUDA_VISIBLE_DEVICES, else one per line
    of ``nvidia-smi -L`` (none when neither exists)."""
    given = os.environ.get(VISIBLE_VAR)
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [ln for ln in listed.stdout.splitlines() if ln.startswith("GPU ")]
    return [ln.split(":", 1)[0].split()[1] for ln in lines]


class GpuClaims:
    """Claim and release this machine's GPUs for local jobs (see the module docstring)."""

    def __init__(self, gpus: list[str], where: Path | None = None) -> None:
        self.gpus = gpus
        self.dir = where or data_dir() / "gpu-claims"

    def check(self, asked: int) -> None:
        """Refuse, with what to do, a request this machine can never meet."""
        if asked <= len(self.gpus):
            return
        if not self.gpus:
            raise SubmitError(
                f"gpus={asked}: this machine shows no GPU (no CUDA_VISIBLE_DEVICES and no "
                "nvidia-smi): run it on a profile of a cluster with GPUs, or leave gpus out "
                "(.options(gpus=0)) to run it here on CPUs"
            )
        raise SubmitError(
            f"gpus={asked}: this machine has {len(self.gpus)} GPU"
            f"{'s' if len(self.gpus) != 1 else ''} ({', '.join(self.gpus)}): ask for "
            f"gpus={len(self.gpus)} or fewer, or use a cluster profile"
        )

    def _owner(self, path: Path) -> int:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def claim(self, asked: int, pid: int) -> list[str] | None:
        """``asked`` free GPUs claimed for ``pid`` (their ids), or None when fewer are free."""
        private_dir(self.dir)
        got: list[str] = []
        for gpu in self.gpus:
            if len(got) == asked:
                break
            path = self.dir / gpu
            owner = self._owner(path)
            if owner and not pid_alive(owner):  # its job ended without releasing it
                path.unlink(missing_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{pid}\n")
            got.append(gpu)
        if len(got) < asked:
            self.release(got)
            return None
        return got

    def hand_over(self, gpus: list[str], pid: int) -> None:
        """The claims now name the job's own process (it outlives this kernel)."""
        for gpu in gpus:
            tmp = self.dir / f".{gpu}.{os.getpid()}"
            tmp.write_text(f"{pid}\n")
            os.replace(tmp, self.dir / gpu)

    def release(self, gpus: list[str]) -> None:
        for gpu in gpus:
            (self.dir / gpu).unlink(missing_ok=True)

    def in_use(self) -> int:
        return sum(1 for gpu in self.gpus if (self.dir / gpu).exists())


async def take_gpus(claims: GpuClaims, asked: int, env: dict[str, str], task: Any) -> list[str]:
    """The GPUs a job asked for, waited for while other jobs hold them (``task.reason``
    says so); ``env`` names only those (none when it asked for none, on a machine with
    GPUs). -> the ids to release when the job ended."""
    if not claims.gpus:
        return []
    got: list[str] | None = []
    if asked:
        while (got := claims.claim(asked, os.getpid())) is None:
            plural = "s" if asked > 1 else ""
            used = f"{claims.in_use()} of {len(claims.gpus)} in use"
            task.reason = f"waiting for {asked} free GPU{plural} ({used})"
            await asyncio.sleep(0.2)
    env[VISIBLE_VAR] = ",".join(got or [])
    return got or []
