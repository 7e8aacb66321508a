"""What a Grid Engine cell offers, in one round trip: each queue's configuration
(``qconf -sq`` for every queue of ``qconf -sql``: ``h_rt``, ``slots``, ``h_vmem``), each
queue instance's used and total slots (``qstat -f``), each host's memory (``qhost``) and
the pending jobs (``qstat -s p``). Grid Engine has no default queue (it picks one that
fits), so ``default`` is None; the user's accounts are not listed (``-A`` is free text).
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from typing import Any

from ..common.clusterinfo import ClusterInfo, Partition
from ..common.errors import ResourceError
from ..config.resources import parse_memory, parse_time
from . import discovery_script

COMMANDS = (
    ("queues", 'for q in $(qconf -sql); do echo "@queue $q"; qconf -sq "$q"; done'),
    ("instances", "qstat -f -u '*'"),
    ("hosts", "qhost"),
    ("pending", "qstat -s p -u '*'"),
)
_INFINITE = ("INFINITY", "NONE", "UNDEFINED", "")
_INSTANCE_RE = re.compile(r"^(\S+)@(\S+)\s+\S+\s+(\d+)/(\d+)/(\d+)\s*(?:\S+\s+\S+\s*)?(\S*)\s*$")


def discover(backend: Any) -> ClusterInfo:
    """Ask the cell behind ``backend`` (a :class:`~.sge.SgeBackend`) once."""
    return parse(discovery_script.run(backend.transport, COMMANDS, backend.scheduler_argv))


def parse(sections: dict[str, discovery_script.Section]) -> ClusterInfo:
    """A :class:`ClusterInfo` from the script's sections (kept apart for the unit tests)."""
    queues = sections.get("queues")
    if queues is None or not queues.ok or "@queue" not in queues.out:
        said = queues.first_line() if queues else "it did not run"
        raise ResourceError(
            f"qconf -sql failed: {said}; is this a Grid Engine login node (SGE_ROOT, "
            "SGE_CELL in the profile's env or setup)?"
        )
    confs = _queue_confs(queues.out)
    instances: dict[str, list[tuple[str, int, int, str]]] = defaultdict(list)
    inst = sections.get("instances")
    for line in (inst.out if inst and inst.ok else "").splitlines():
        m = _INSTANCE_RE.match(line.strip())
        if m:
            q, host, _resv, used, total, states = m.groups()
            instances[q].append((host, int(used), int(total), states))
    memory = _host_memory(sections.get("hosts"))
    pend = sections.get("pending")
    pending = sum(
        1 for ln in (pend.out if pend and pend.ok else "").splitlines() if ln.strip()[:1].isdigit()
    )
    partitions = []
    for name, conf in confs.items():
        hosts = instances.get(name, [])
        usable = [h for h in hosts if not set(h[3]) & set("duEcsSaA")]
        slots = _int(conf.get("slots", ""))
        mem = max((memory.get(h[0], 0) for h in hosts), default=0) or None
        h_vmem = conf.get("h_vmem", "INFINITY")
        if h_vmem not in _INFINITE and mem is not None:
            with contextlib.suppress(ResourceError):  # a per-host list: the host's own memory
                mem = min(mem, parse_memory(h_vmem))
        partitions.append(
            Partition(
                name=name,
                max_time_s=_time(conf.get("h_rt", "INFINITY")),
                nodes=len(hosts),
                idle_nodes=sum(1 for h in usable if h[1] == 0),
                mixed_nodes=sum(1 for h in usable if 0 < h[1] < h[2]),
                allocated_nodes=sum(1 for h in usable if h[2] and h[1] >= h[2]),
                cores_per_node=max((h[2] for h in hosts), default=slots) or slots,
                memory_per_node=mem,
                pending=pending,
            )
        )
    return ClusterInfo(
        scheduler="sge",
        partitions=tuple(partitions),
        why=("Grid Engine picks a queue itself (no default) and lists no accounts",),
    )


def _queue_confs(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("@queue "):
            current = out.setdefault(line.split(None, 1)[1].strip(), {})
        elif current is not None and line.strip():
            key, _, value = line.strip().partition(" ")
            # per-host overrides ("[host=value]") are not limits of the whole queue
            current[key] = value.strip().split(",")[0]
    return out


def _host_memory(section: discovery_script.Section | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (section.out if section and section.ok else "").splitlines()[2:]:
        cols = line.split()
        if len(cols) >= 8 and cols[0] != "global":
            try:
                out[cols[0]] = parse_memory(cols[7].replace("G", "GB").replace("M", "MB"))
            except ResourceError:
                continue
    return out


def _time(text: str) -> int | None:
    if text in _INFINITE:
        return None
    try:
        return parse_time(text)
    except ResourceError:
        return None


def _int(text: str) -> int | None:
    m = re.match(r"\d+", text.strip())
    return int(m.group()) if m else None
