"""What a SLURM cluster offers, in one round trip: ``sinfo`` per node and partition (state,
cores, memory, GRES), ``scontrol show partition`` (limits, default, allowed accounts and
QOS), ``squeue`` (pending jobs per partition) and ``sacctmgr`` (the user's associations and
the QOS), which fails without slurmdbd: the accounts are then empty and ``why`` says so.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from ..common.clusterinfo import ClusterInfo, Partition
from ..common.errors import ResourceError
from ..config.resources import parse_time
from . import discovery_script

COMMANDS = (
    ("nodes", "sinfo -h -N -o '%R|%N|%T|%c|%m|%G'"),
    ("partitions", "scontrol show partition -o"),
    ("pending", "squeue -h -t PD -o '%P'"),
    ("assoc", 'sacctmgr -nP show assoc user="$(id -un)" format=account,qos'),
    ("qos", "sacctmgr -nP show qos format=name"),
)

_GRES_RE = re.compile(r"^gpu(?::([A-Za-z0-9_.-]+))?:(\d+)")
_UNLIMITED = ("UNLIMITED", "INFINITE", "infinite", "NONE", "N/A", "")


def discover(backend: Any) -> ClusterInfo:
    """Ask the cluster behind ``backend`` (a :class:`~.slurm.SlurmBackend`) once."""
    sections = discovery_script.run(backend.transport, COMMANDS)
    return parse(sections)


def parse(sections: dict[str, discovery_script.Section]) -> ClusterInfo:
    """A :class:`ClusterInfo` from the script's sections (kept apart for the unit tests)."""
    why: list[str] = []
    nodes = sections.get("nodes")
    if nodes is None or not nodes.ok:
        raise ResourceError(
            f"sinfo failed: {nodes.first_line() if nodes else 'it did not run'}; is this a "
            "SLURM login node (SLURM_CONF, modules in the profile's setup)?"
        )
    per_part = _nodes(nodes.out)
    parts_sec = sections.get("partitions")
    settings: dict[str, dict[str, str]] = {}
    if parts_sec is not None and parts_sec.ok:
        settings = _partition_settings(parts_sec.out)
    elif parts_sec is not None:
        why.append(f"partition limits unknown: scontrol says {parts_sec.first_line()!r}")
    pending: Counter[str] = Counter()
    pend_sec = sections.get("pending")
    if pend_sec is not None and pend_sec.ok:
        for line in pend_sec.out.splitlines():
            for name in line.strip().split(","):
                if name:
                    pending[name] += 1
    partitions = []
    for name in dict.fromkeys([*settings, *per_part]):
        partitions.append(_partition(name, settings.get(name, {}), per_part.get(name, []), pending))
    accounts, qos = _associations(sections, why)
    return ClusterInfo(
        scheduler="slurm",
        partitions=tuple(partitions),
        accounts=accounts,
        qos=qos,
        why=tuple(why),
    )


def _nodes(text: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) < 6:
            continue
        part, node, state, cpus, mem, gres = cols[:6]
        out[part].append(
            {
                "node": node,
                "state": state.rstrip("*~#!%$@^-+").lower(),
                "cpus": _int(cpus),
                "memory": _int(mem),
                "gpus": _gres(gres),
            }
        )
    return out


def _gres(text: str) -> dict[str, int]:
    """``gpu:a100:4(S:0-1),gpu:v100:2`` -> ``{"a100": 4, "v100": 2}`` ("" for untyped)."""
    out: dict[str, int] = {}
    for item in re.split(r",(?![^()]*\))", text):
        m = _GRES_RE.match(item.strip())
        if m:
            out[m.group(1) or ""] = out.get(m.group(1) or "", 0) + int(m.group(2))
    return out


def _partition_settings(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        pairs = dict(
            word.split("=", 1) for word in line.split() if "=" in word and not word.startswith("=")
        )
        if "PartitionName" in pairs:
            out[pairs["PartitionName"]] = pairs
    return out


def _partition(
    name: str, conf: dict[str, str], nodes: list[dict[str, Any]], pending: Counter[str]
) -> Partition:
    states = Counter(n["state"] for n in nodes)
    cpus = max((n["cpus"] for n in nodes if n["cpus"]), default=None)
    memory = max((n["memory"] for n in nodes if n["memory"]), default=None)
    max_cpus = _limit(conf.get("MaxCPUsPerNode", ""))
    if max_cpus is not None and cpus is not None:
        cpus = min(cpus, max_cpus)
    max_mem = _limit(conf.get("MaxMemPerNode", ""))
    if max_mem is not None and memory is not None:
        memory = min(memory, max_mem)
    gpus: dict[str, int] = {}
    for n in nodes:
        for kind, count in n["gpus"].items():
            gpus[kind] = max(gpus.get(kind, 0), count)
    return Partition(
        name=name,
        max_time_s=_time(conf.get("MaxTime", "UNLIMITED")),
        max_nodes=_limit(conf.get("MaxNodes", "")),
        nodes=len(nodes) or (_int(conf.get("TotalNodes", "")) or 0),
        idle_nodes=states["idle"],
        mixed_nodes=states["mixed"],
        allocated_nodes=states["allocated"] + states["completing"],
        cores_per_node=cpus,
        memory_per_node=memory,
        gpus=gpus,
        gpu_nodes=sum(1 for n in nodes if n["gpus"]),
        pending=pending[name],
        default=conf.get("Default") == "YES",
        qos=_allowed(conf.get("AllowQos", "ALL")),
        accounts=_allowed(conf.get("AllowAccounts", "ALL")),
        state=conf.get("State", "UP").lower(),
    )


def _associations(
    sections: dict[str, discovery_script.Section], why: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    assoc = sections.get("assoc")
    if assoc is None or not assoc.ok or "not running a supported" in assoc.out:
        said = assoc.first_line() if assoc else "it did not run"
        why.append(
            f"accounts unknown: sacctmgr says {said!r} (the cluster keeps no accounting "
            "database); type an account if your site needs one"
        )
        return (), ()
    accounts: list[str] = []
    qos: list[str] = []
    for line in assoc.out.splitlines():
        account, _, allowed = line.strip().partition("|")
        if account and account not in accounts:
            accounts.append(account)
        for q in allowed.split(","):
            if q and q not in qos:
                qos.append(q)
    qsec = sections.get("qos")
    if qsec is not None and qsec.ok and not qos:
        qos = [ln.strip() for ln in qsec.out.splitlines() if ln.strip()]
    return tuple(accounts), tuple(qos)


def _allowed(text: str) -> tuple[str, ...]:
    return () if text in ("ALL", "") else tuple(t for t in text.split(",") if t)


def _time(text: str) -> int | None:
    if text in _UNLIMITED:
        return None
    try:
        return parse_time(text)
    except ResourceError:
        return None


def _limit(text: str) -> int | None:
    return None if text in _UNLIMITED else _int(text)


def _int(text: str) -> int | None:
    digits = re.match(r"\d+", text.strip())
    return int(digits.group()) if digits else None
