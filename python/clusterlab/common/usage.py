"""What a job used: wall time, CPU time and peak memory, as its runner measured them.

The runner writes these in its status lines (``finished``: the whole job or array task;
``item-finished``: one item). They are plain data, stored with the job in the ledger, so
a restarted kernel or the CLI shows them without asking the cluster. An array reports a
summary of its items (:class:`ArrayUsage`); :mod:`.efficiency` judges them against the
request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GB = 1024**3  # memory is counted in binary units, written "GB" as sbatch does
MB = 1024**2


def memory_text(size: int) -> str:
    """'412 MB', '1.5 GB': short, and in the units resource requests are written in."""
    if size >= GB:
        return f"{size / GB:.1f} GB".replace(".0 GB", " GB")
    return f"{max(size / MB, 0):.0f} MB"


def seconds_text(value: float) -> str:
    """ "3.2s", "4m12s", "1h03m": a duration as the usage sentences write it."""
    if value < 60:
        return f"{value:.1f}s"
    total = int(value)
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


@dataclass(frozen=True)
class Usage:
    """What one job (or one array item) used.

    ``elapsed`` and ``cpu_time`` are seconds (CPU: user + system, of the job's Python and
    of the processes it waited for); ``max_rss`` is the peak resident memory in bytes of
    the largest of them. For an array item, ``elapsed`` and ``cpu_time`` are the item's
    own, while ``max_rss`` is the peak of its task's process *so far*: an upper bound,
    since items of one task (or one pool worker) run one after the other in one process.
    """

    elapsed: float
    cpu_time: float
    max_rss: int

    def __str__(self) -> str:
        return (
            f"elapsed {seconds_text(self.elapsed)}, CPU {seconds_text(self.cpu_time)}, "
            f"peak memory {memory_text(self.max_rss)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed, "cpu_time": self.cpu_time, "max_rss": self.max_rss}

    @classmethod
    def from_dict(cls, data: object) -> Usage | None:
        """A usage as the runner or the ledger wrote it; None for anything else (an older
        runner wrote none, a job may write garbage into its own status file)."""
        if not isinstance(data, Mapping):
            return None
        try:
            values = (float(data["elapsed"]), float(data["cpu_time"]), int(data["max_rss"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        if not all(math.isfinite(v) and v >= 0 for v in values):
            return None
        return cls(*values)


@dataclass(frozen=True)
class ArrayUsage:
    """A summary of what an array's items used: ``items`` of them reported a usage, with
    these ``max`` and ``mean`` values (each a :class:`Usage`)."""

    items: int
    max: Usage
    mean: Usage

    def __str__(self) -> str:
        return f"{self.items} items; most: {self.max}; mean: {self.mean}"

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "max": self.max.to_dict(), "mean": self.mean.to_dict()}

    @classmethod
    def from_dict(cls, data: object) -> ArrayUsage | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("items"), int):
            return None
        most, mean = Usage.from_dict(data.get("max")), Usage.from_dict(data.get("mean"))
        return cls(data["items"], most, mean) if most and mean else None

    @classmethod
    def of(cls, usages: Sequence[Usage | None]) -> ArrayUsage | None:
        """The summary of the items that reported one; None while none did."""
        known = [u for u in usages if u is not None]
        if not known:
            return None
        n = len(known)
        return cls(
            n,
            Usage(
                max(u.elapsed for u in known),
                max(u.cpu_time for u in known),
                max(u.max_rss for u in known),
            ),
            Usage(
                sum(u.elapsed for u in known) / n,
                sum(u.cpu_time for u in known) / n,
                round(sum(u.max_rss for u in known) / n),
            ),
        )


def usage_from_json(data: object) -> Usage | ArrayUsage | None:
    """Either record from its stored dict (an array's has ``items``)."""
    if isinstance(data, Mapping) and "items" in data:
        return ArrayUsage.from_dict(data)
    return Usage.from_dict(data)
