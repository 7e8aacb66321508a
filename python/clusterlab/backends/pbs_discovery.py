"""What a PBS Professional (or OpenPBS) server offers, in one round trip: its queues with
their limits and job counts (``qstat -Qf -F json``), its default queue (``qstat -Bf -F
json``) and its nodes with CPUs, memory, GPUs and state (``pbsnodes -a -F json``). A node
with a ``queue`` attribute serves that queue only, one without serves every queue.
TORQUE prints none of these as JSON: its discovery fails with that sentence and nothing
is checked (submission goes on; the scheduler decides).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..common.clusterinfo import ClusterInfo, Partition
from ..common.errors import ResourceError
from ..config.resources import parse_time
from . import discovery_script

COMMANDS = (
    ("queues", "qstat -Q -f -F json"),
    ("server", "qstat -B -f -F json"),
    ("nodes", "pbsnodes -a -F json"),
)
_SIZE_RE = re.compile(r"^(\d+)(b|kb|mb|gb|tb)?$", re.IGNORECASE)
_MB = {"b": 1 / 1024**2, "kb": 1 / 1024, "mb": 1, "gb": 1024, "tb": 1024**2}
_BUSY = ("job-busy", "job-exclusive", "resv-exclusive")
_DOWN = ("down", "offline", "stale", "state-unknown", "unresolvable")


def discover(backend: Any) -> ClusterInfo:
    """Ask the PBS server behind ``backend`` once."""
    gpu_resource = getattr(backend.profile, "pbs_gpu_resource", "") or "ngpus"
    return parse(discovery_script.run(backend.transport, COMMANDS), gpu_resource)


def _json(section: discovery_script.Section | None, what: str) -> dict[str, Any]:
    if section is None or not section.ok:
        said = section.first_line() if section else "it did not run"
        raise ResourceError(
            f"{what} failed: {said}; clusterlab reads PBS Professional's JSON output "
            "(TORQUE has none: its limits are not discovered)"
        )
    try:
        doc = json.loads(section.out)
    except ValueError:
        raise ResourceError(f"{what} printed no JSON: {section.first_line()!r}") from None
    return doc if isinstance(doc, dict) else {}


def parse(
    sections: dict[str, discovery_script.Section], gpu_resource: str = "ngpus"
) -> ClusterInfo:
    """A :class:`ClusterInfo` from the script's sections (kept apart for the unit tests);
    nodes' GPUs are counted under ``gpu_resource`` (the profile's ``pbs_gpu_resource``:
    a site with its own name lists no ngpus, and its GPUs would look absent)."""
    queues = _json(sections.get("queues"), "qstat -Qf -F json").get("Queue", {})
    nodes = _json(sections.get("nodes"), "pbsnodes -a -F json").get("nodes", {})
    why: list[str] = []
    default = ""
    try:
        server = _json(sections.get("server"), "qstat -Bf -F json").get("Server", {})
        default = next((s.get("default_queue", "") for s in server.values()), "")
    except ResourceError as exc:
        why.append(f"default queue unknown: {exc}")
    partitions = []
    for name, q in queues.items():
        if q.get("queue_type", "Execution") != "Execution":
            continue  # a routing queue sends jobs on; its targets are listed themselves
        mine = [n for n in nodes.values() if n.get("queue", name) == name]
        partitions.append(_queue(name, q, mine, name == default, gpu_resource))
    return ClusterInfo(
        scheduler="pbs",
        partitions=tuple(partitions),
        why=(*why, "PBS lists no accounts (-A is free text)"),
    )


def _queue(
    name: str, q: dict[str, Any], nodes: list[dict[str, Any]], default: bool, gpu_resource: str
) -> Partition:
    limits = q.get("resources_max", {}) or {}
    states = [str(n.get("state", "")) for n in nodes]
    avail = [n.get("resources_available", {}) or {} for n in nodes]
    used = [int((n.get("resources_assigned", {}) or {}).get("ncpus", 0) or 0) for n in nodes]
    cpus = max((int(a.get("ncpus", 0) or 0) for a in avail), default=0) or None
    memory = max((_mb(str(a.get("mem", ""))) or 0 for a in avail), default=0) or None
    if limits.get("mem") and memory:
        memory = min(memory, _mb(str(limits["mem"])) or memory)
    gpus = max((int(a.get(gpu_resource, 0) or 0) for a in avail), default=0)
    counts = dict(re.findall(r"(\w+):(\d+)", str(q.get("state_count", ""))))
    free = [s == "free" and u == 0 for s, u in zip(states, used, strict=True) if s not in _DOWN]
    return Partition(
        name=name,
        max_time_s=_time(str(limits.get("walltime", ""))),
        max_nodes=int(limits["nodect"]) if str(limits.get("nodect", "")).isdigit() else None,
        nodes=len(nodes),
        idle_nodes=sum(free),
        mixed_nodes=sum(1 for s, u in zip(states, used, strict=True) if s == "free" and u > 0),
        allocated_nodes=sum(1 for s in states if s in _BUSY),
        cores_per_node=cpus,
        memory_per_node=memory,
        gpus={"": gpus} if gpus else {},
        gpu_nodes=sum(1 for a in avail if int(a.get(gpu_resource, 0) or 0)),
        pending=sum(int(counts.get(k, 0)) for k in ("Queued", "Held", "Waiting")),
        default=default,
        state="up" if q.get("enabled") == "True" and q.get("started") == "True" else "down",
    )


def _mb(text: str) -> int | None:
    m = _SIZE_RE.match(text.strip())
    return round(int(m.group(1)) * _MB[(m.group(2) or "b").lower()]) if m else None


def _time(text: str) -> int | None:
    try:
        return parse_time(text) if text else None
    except ResourceError:
        return None
