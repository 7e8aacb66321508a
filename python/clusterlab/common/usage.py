"""What a job used: wall time, CPU time and peak memory, as its runner measured them,
and on a node with ``nvidia-smi`` its GPUs' peak memory and mean utilisation.

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

    With GPUs (``CUDA_VISIBLE_DEVICES`` names some and the node has ``nvidia-smi``, which
    the runner samples every few seconds): ``gpus`` sampled, ``gpu_memory`` the peak bytes
    on the fullest of them, ``gpu_utilization`` their mean utilisation, 0..1 (None when
    the GPUs do not report it, e.g. MIG slices). For a multi-node job, the GPUs of its
    first node. Without GPUs, ``gpus`` is 0 and the other two None.
    """

    elapsed: float
    cpu_time: float
    max_rss: int
    gpus: int = 0
    gpu_memory: int | None = None
    gpu_utilization: float | None = None

    def __str__(self) -> str:
        text = (
            f"elapsed {seconds_text(self.elapsed)}, CPU {seconds_text(self.cpu_time)}, "
            f"peak memory {memory_text(self.max_rss)}"
        )
        return text + self.gpu_text()

    def gpu_text(self) -> str:
        """'; GPU (2) peak 3.1 GB, 64% busy', or '' without GPUs."""
        if not self.gpus or self.gpu_memory is None:
            return ""
        busy = "" if self.gpu_utilization is None else f", {self.gpu_utilization:.0%} busy"
        count = f" ({self.gpus})" if self.gpus > 1 else ""
        return f"; GPU{count} peak {memory_text(self.gpu_memory)}{busy}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "elapsed": self.elapsed,
            "cpu_time": self.cpu_time,
            "max_rss": self.max_rss,
        }
        if self.gpus:
            out.update(
                gpus=self.gpus, gpu_memory=self.gpu_memory, gpu_utilization=self.gpu_utilization
            )
        return out

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
        return cls(*values, **_gpu_fields(data))


def _gpu_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The GPU part of a usage record, or {} when it has none or it is not sane."""
    try:
        gpus, memory = int(data.get("gpus") or 0), data.get("gpu_memory")
        busy = data.get("gpu_utilization")
        if gpus <= 0 or memory is None:
            return {}
        memory, busy = int(memory), None if busy is None else float(busy)
    except (TypeError, ValueError, OverflowError):
        return {}
    if memory < 0 or (busy is not None and not (math.isfinite(busy) and 0 <= busy <= 1)):
        return {}
    return {"gpus": gpus, "gpu_memory": memory, "gpu_utilization": busy}


def _gpu_summary(known: Sequence[Usage], mean: bool) -> dict[str, Any]:
    """The items' GPUs: the most (or the mean) memory, the highest (or mean) utilisation."""
    with_gpu = [u for u in known if u.gpus and u.gpu_memory is not None]
    if not with_gpu:
        return {}
    loads = [u.gpu_utilization for u in with_gpu if u.gpu_utilization is not None]
    memory = [u.gpu_memory or 0 for u in with_gpu]
    return {
        "gpus": max(u.gpus for u in with_gpu),
        "gpu_memory": round(sum(memory) / len(memory)) if mean else max(memory),
        "gpu_utilization": (sum(loads) / len(loads) if mean else max(loads)) if loads else None,
    }


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
                **_gpu_summary(known, mean=False),
            ),
            Usage(
                sum(u.elapsed for u in known) / n,
                sum(u.cpu_time for u in known) / n,
                round(sum(u.max_rss for u in known) / n),
                **_gpu_summary(known, mean=True),
            ),
        )


def usage_from_json(data: object) -> Usage | ArrayUsage | None:
    """Either record from its stored dict (an array's has ``items``)."""
    if isinstance(data, Mapping) and "items" in data:
        return ArrayUsage.from_dict(data)
    return Usage.from_dict(data)
