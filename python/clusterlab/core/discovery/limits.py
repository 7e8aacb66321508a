"""A request checked against what discovery saw, before the scheduler hears of it.

Why here and not in a backend: the rule is the same for every scheduler once discovery
has put its limits into neutral values (:class:`~clusterlab.common.clusterinfo.Partition`),
and the sentence must say what to choose instead, which needs every partition at once.
A request is only refused for what discovery knows for certain; with ``extra`` scheduler
options (which may name a partition or a time of their own) it is not checked at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...common.clusterinfo import ClusterInfo, Partition, format_limit, format_mb
from ...common.errors import LimitError
from ...config.resources import Resources
from .cache import for_submission

if TYPE_CHECKING:
    from ...backends.base import Backend
    from ...config.profile import Profile


def _alternatives(info: ClusterInfo, r: Resources, current: str) -> list[str]:
    """Partitions other than ``current`` where the request fits every known limit."""
    return [p.name for p in info.partitions if p.name != current and not _misfits(p, r)]


def _instead(info: ClusterInfo, r: Resources, current: str, smaller: str) -> str:
    others = _alternatives(info, r, current)
    if not others:
        return f"ask for {smaller}"
    names = " or ".join(f"'{n}'" for n in others[:3])
    return f"choose {names} or {smaller}"


def _misfits(p: Partition, r: Resources) -> list[tuple[str, str]]:
    """``(what is over, the smaller request to make)`` for each limit ``r`` breaks in ``p``."""
    out: list[tuple[str, str]] = []
    if r.time_s and p.max_time_s is not None and r.time_s > p.max_time_s:
        out.append(
            (
                f"time {format_limit(r.time_s)} is over partition '{p.name}''s "
                f"{format_limit(p.max_time_s)}",
                "a shorter time",
            )
        )
    nodes = r.nodes or 1
    node_limits = [x for x in (p.max_nodes, p.nodes or None) if x is not None]
    if node_limits and nodes > min(node_limits):
        out.append(
            (
                f"nodes={nodes} is over partition '{p.name}''s {min(node_limits)} node(s)",
                "fewer nodes",
            )
        )
    if r.cores and p.cores_per_node and r.cores > p.cores_per_node:
        out.append(
            (
                f"cores={r.cores} is over partition '{p.name}''s {p.cores_per_node} cores per node",
                f"at most cores={p.cores_per_node}",
            )
        )
    if r.memory_mb and p.memory_per_node and r.memory_mb > p.memory_per_node:
        out.append(
            (
                f"memory {format_mb(r.memory_mb)} is over partition '{p.name}''s "
                f"{format_mb(p.memory_per_node)} per node",
                f"at most memory='{p.memory_per_node}MB'",
            )
        )
    if r.gpus:
        have = p.gpus.get(r.gpu_type, 0) if r.gpu_type else p.max_gpus_per_node
        what = f"{r.gpu_type} GPUs" if r.gpu_type else "GPUs"
        if r.gpus > have:
            kinds = ", ".join(f"{k or 'gpu'} x{v}" for k, v in sorted(p.gpus.items()))
            out.append(
                (
                    f"gpus={r.gpus} is over partition '{p.name}''s {have} {what} per node"
                    + (f" (it has {kinds})" if kinds and r.gpu_type else ""),
                    "fewer GPUs" if have else "no GPUs",
                )
            )
    return out


def check(info: ClusterInfo | None, r: Resources) -> str:
    """The sentence refusing ``r`` on the cluster ``info`` describes, or "" when it fits
    (or when nothing is known: no discovery, or ``extra`` options)."""
    if info is None or r.extra or not info.partitions:
        return ""
    partition = info.partition(r.partition)
    if partition is None:
        if not r.partition:  # no default partition known: the scheduler picks
            return ""
        names = ", ".join(f"'{p.name}'" for p in info.partitions)
        return f"partition '{r.partition}' does not exist on this cluster: choose one of {names}"
    if r.account and info.accounts and r.account not in info.accounts:
        return (
            f"account '{r.account}' is not one of yours on this cluster: choose one of "
            + ", ".join(f"'{a}'" for a in info.accounts)
        )
    if r.account and partition.accounts and r.account not in partition.accounts:
        return (
            f"account '{r.account}' may not use partition '{partition.name}' (it allows "
            + ", ".join(f"'{a}'" for a in partition.accounts)
            + ")"
        )
    if r.qos and info.qos and r.qos not in info.qos:
        return f"QOS '{r.qos}' does not exist for you here: choose one of " + ", ".join(
            f"'{q}'" for q in info.qos
        )
    misfits = _misfits(partition, r)
    if not misfits:
        return ""
    what, smaller = misfits[0]
    return f"{what}: {_instead(info, r, partition.name, smaller)}"


def refuse(profile: Profile, backend: Backend, resources: Resources) -> None:
    """Raise a LimitError when discovery knows the request cannot run on this cluster,
    without asking the scheduler; a discovery that failed checks nothing, so a submission
    never waits on it."""
    info, _ = for_submission(profile, backend)
    sentence = check(info, resources)
    if sentence:
        raise LimitError(sentence)
