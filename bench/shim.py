"""Count the scheduler commands a tool runs, without changing the tool.

A temp dir holds one tiny ``sh`` wrapper per command (sbatch, squeue, sacct, scontrol,
scancel) that appends its name to a log and ``exec``s the real binary, found with
``shutil.which`` before PATH changes. Putting that dir first on PATH (in this process only,
inherited by its children) makes every tool that looks commands up on PATH count itself:
clusterlab's local transport, submitit, dask-jobqueue and the raw ``sbatch`` loops alike.
Commands that clusterlab runs over SSH happen on the other side; those are counted with
the runtime's own counters instead (see bench/cases_slurm.py).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import Counter
from pathlib import Path

COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "scancel")


class CommandCounter:
    """Wrappers in ``directory``; ``totals()`` is the cumulative count per command."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "calls.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._old_path: str | None = None
        for name in COMMANDS:
            real = shutil.which(name)
            if real is None:
                continue
            script = directory / name
            script.write_text(
                "#!/bin/sh\n"
                f"printf '%s\\n' {name} >> {shlex.quote(str(self.log))}\n"
                f'exec {shlex.quote(real)} "$@"\n'
            )
            script.chmod(0o755)

    def activate(self) -> None:
        """Shims first on PATH from now on (for this process and what it starts)."""
        if self._old_path is None:
            self._old_path = os.environ.get("PATH", "")
            os.environ["PATH"] = f"{self.directory}{os.pathsep}{self._old_path}"

    def deactivate(self) -> None:
        if self._old_path is not None:
            os.environ["PATH"] = self._old_path
            self._old_path = None

    def totals(self) -> dict[str, int]:
        """Commands run so far, by name (a line per call, appended atomically by sh)."""
        counts = Counter(self.log.read_text().split())
        return {name: counts.get(name, 0) for name in COMMANDS}

    @staticmethod
    def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        return {name: after.get(name, 0) - before.get(name, 0) for name in COMMANDS}
