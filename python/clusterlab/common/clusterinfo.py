"""What discovery learns about a cluster: its partitions (queues) with their limits and
load, its default partition, the QOS and the user's accounts.

The values are scheduler-neutral (a backend's discovery module fills them in from its own
commands), plain data that round-trips through JSON, because one kernel's discovery is
cached on disk and read by every other kernel, the panel and the CLI of this machine
(:mod:`clusterlab.core.discovery.cache`). Memory is in MiB, like :class:`Resources`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Partition:
    """One partition (SLURM), queue (Grid Engine, PBS) or namespace (Kubernetes).

    ``None`` means "no limit" for limits and "unknown" for counts."""

    name: str
    max_time_s: int | None = None  # the longest wall time a job may ask for
    max_nodes: int | None = None  # the most nodes one job may ask for
    nodes: int = 0
    idle_nodes: int = 0
    mixed_nodes: int = 0  # partly allocated
    allocated_nodes: int = 0
    cores_per_node: int | None = None  # the largest node's (what one job can get on one)
    memory_per_node: int | None = None  # MiB, the largest node's
    gpus: dict[str, int] = field(default_factory=dict)  # GPU type ("" untyped) -> per node
    gpu_nodes: int = 0  # nodes with GPUs
    pending: int = 0  # jobs waiting in it
    default: bool = False
    qos: tuple[str, ...] = ()  # allowed QOS; () means any
    accounts: tuple[str, ...] = ()  # allowed accounts; () means any
    state: str = "up"

    @property
    def max_time(self) -> timedelta | None:
        """The wall-time limit as a timedelta (None: unlimited)."""
        return None if self.max_time_s is None else timedelta(seconds=self.max_time_s)

    @property
    def max_gpus_per_node(self) -> int:
        """The most GPUs of any type on one node of it."""
        return max(self.gpus.values(), default=0)

    def summary(self) -> str:
        """One line for a picker's tooltip: "normal: max 2-00:00:00, 14 of 40 nodes idle,
        a100 x4 on 10 nodes"."""
        parts = [f"max {format_limit(self.max_time_s)}"]
        parts.append(f"{self.idle_nodes} of {self.nodes} nodes idle")
        if self.cores_per_node:
            parts.append(f"{self.cores_per_node} cores")
        if self.memory_per_node:
            parts.append(f"{format_mb(self.memory_per_node)} per node")
        for kind, count in sorted(self.gpus.items()):
            parts.append(f"{kind or 'gpu'} x{count} on {self.gpu_nodes} nodes")
        if self.pending:
            parts.append(f"{self.pending} pending")
        return f"{self.name}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["qos"], out["accounts"] = list(self.qos), list(self.accounts)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partition:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["qos"] = tuple(values.get("qos") or ())
        values["accounts"] = tuple(values.get("accounts") or ())
        values["gpus"] = {str(k): int(v) for k, v in (values.get("gpus") or {}).items()}
        return cls(**values)


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster as discovery saw it at ``fetched_at`` (a Unix time).

    ``why`` says what could not be learnt and why ("accounts unknown: sacctmgr says ..."):
    discovery gives what it could rather than nothing."""

    scheduler: str
    partitions: tuple[Partition, ...] = ()
    accounts: tuple[str, ...] = ()
    qos: tuple[str, ...] = ()
    why: tuple[str, ...] = ()
    fetched_at: float = field(default_factory=time.time)

    @property
    def default(self) -> str | None:
        """The partition a job without one goes to (None: the scheduler decides)."""
        for p in self.partitions:
            if p.default:
                return p.name
        return None

    def partition(self, name: str | None) -> Partition | None:
        """The partition called ``name`` (the default one for None), if known."""
        name = name or self.default
        return next((p for p in self.partitions if p.name == name), None)

    @property
    def age(self) -> float:
        """Seconds since discovery ran."""
        return max(0.0, time.time() - self.fetched_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheduler": self.scheduler,
            "partitions": [p.to_dict() for p in self.partitions],
            "default": self.default,
            "accounts": list(self.accounts),
            "qos": list(self.qos),
            "why": list(self.why),
            "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterInfo:
        return cls(
            scheduler=str(data.get("scheduler", "")),
            partitions=tuple(Partition.from_dict(p) for p in data.get("partitions") or ()),
            accounts=tuple(data.get("accounts") or ()),
            qos=tuple(data.get("qos") or ()),
            why=tuple(data.get("why") or ()),
            fetched_at=float(data.get("fetched_at") or 0.0),
        )

    def __repr__(self) -> str:
        names = ", ".join(p.name + ("*" if p.default else "") for p in self.partitions)
        return (
            f"<ClusterInfo {self.scheduler}: partitions [{names}], accounts {list(self.accounts)}>"
        )


def format_limit(seconds: int | None) -> str:
    """A time limit as SLURM writes it (D-HH:MM:SS), or "unlimited"."""
    if seconds is None:
        return "unlimited"
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def format_mb(mb: int | float | None) -> str:
    """MiB as people read it: "512 MB", "23.5 GB"."""
    if mb is None:
        return "?"
    if mb >= 1024:
        gb = mb / 1024
        return f"{gb:.0f} GB" if gb >= 10 or gb == int(gb) else f"{gb:.1f} GB"
    return f"{mb:.0f} MB"


def table(info: ClusterInfo) -> str:
    """A readable table of the partitions, then the default, accounts, QOS and any why."""
    head = ("PARTITION", "MAX TIME", "NODES", "IDLE", "CORES", "MEMORY", "GPUS", "PENDING")
    rows = [head]
    for p in info.partitions:
        gpus = ", ".join(f"{k or 'gpu'}:{v}" for k, v in sorted(p.gpus.items())) or "-"
        rows.append(
            (
                p.name + ("*" if p.default else ""),
                format_limit(p.max_time_s),
                str(p.nodes),
                str(p.idle_nodes),
                str(p.cores_per_node or "?"),
                format_mb(p.memory_per_node),
                gpus,
                str(p.pending),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    lines.append(f"default partition: {info.default or '(the scheduler decides)'}")
    lines.append(f"your accounts: {', '.join(info.accounts) or '(none known)'}")
    if info.qos:
        lines.append(f"QOS: {', '.join(info.qos)}")
    lines.extend(f"note: {why}" for why in info.why)
    return "\n".join(lines)
