"""When a job would start: what ``cl.estimate()`` returns.

Scheduler-neutral, like :mod:`.clusterinfo`: a backend's estimator fills ``start`` from the
scheduler's own test (SLURM's ``sbatch --test-only``) or leaves it None with ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Estimate:
    """``start``: when the scheduler expects the job to start (None: it cannot say, and
    ``reason`` says why); ``partition``: where it would run; ``pending``: jobs waiting
    there now; ``fair_share``: the user's SLURM fair-share factor (0..1, higher starts
    sooner; None without accounting, ``why`` then says so)."""

    start: datetime | None
    reason: str = ""
    partition: str | None = None
    pending: int | None = None
    fair_share: float | None = None
    why: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.start is None:
            head = f"start unknown: {self.reason}"
        else:
            head = f"would start at {self.start:%Y-%m-%d %H:%M:%S}"
            if self.partition:
                head += f" in partition '{self.partition}'"
        extra = []
        if self.pending is not None:
            extra.append(f"{self.pending} jobs pending there")
        if self.fair_share is not None:
            extra.append(f"your fair share {self.fair_share:.2f}")
        return head + (f" ({', '.join(extra)})" if extra else "")
