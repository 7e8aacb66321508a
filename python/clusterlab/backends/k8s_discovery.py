"""What a Kubernetes namespace offers: the nodes' allocatable CPUs, memory and GPUs
(``GET /api/v1/nodes``) and the namespace's ResourceQuota (hard minus used), in two API
calls. The namespace is the one "partition" (the default); a job's cores and memory must
fit on one node and within what the quota has left. A user who may not list nodes (common
for namespaced accounts) still gets the quota, and ``why`` says so.
"""

from __future__ import annotations

import re
from typing import Any

from ..common.clusterinfo import ClusterInfo, Partition
from ..common.errors import ClusterlabError
from .k8s_api import KubeError

_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|)$")
_FACTOR = {
    "": 1.0, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "Ki": 1024.0, "Mi": 1024.0**2, "Gi": 1024.0**3, "Ti": 1024.0**4, "Pi": 1024.0**5,
}  # fmt: skip
GPU = "nvidia.com/gpu"


def quantity(text: str) -> float | None:
    """A Kubernetes quantity ("3500m", "16Gi", "2") as a number (bytes, cores)."""
    m = _QUANTITY_RE.match(str(text).strip())
    return float(m.group(1)) * _FACTOR[m.group(2)] if m else None


def discover(backend: Any) -> ClusterInfo:
    """Ask the API server behind ``backend`` (a KubernetesBackend)."""
    api = backend.api
    namespace = backend.profile.namespace or api.namespace
    why: list[str] = []
    try:
        nodes = api.request("GET", "/api/v1/nodes").get("items", [])
    except KubeError as exc:
        nodes = []
        why.append(f"nodes unknown: {exc}")
    try:
        quotas = api.request("GET", f"/api/v1/namespaces/{namespace}/resourcequotas")
    except KubeError as exc:
        quotas = {}
        why.append(f"quota unknown: {exc}")
    if len(why) == 2:  # neither could be read: nothing is known
        raise ClusterlabError("; ".join(why))
    return parse(namespace, nodes, quotas.get("items", []), why)


def parse(
    namespace: str, nodes: list[dict[str, Any]], quotas: list[dict[str, Any]], why: list[str]
) -> ClusterInfo:
    """The namespace as one partition (kept apart for the unit tests)."""
    ready = [n for n in nodes if _ready(n)]
    alloc = [(n.get("status", {}) or {}).get("allocatable", {}) or {} for n in ready]
    cpus = [c for a in alloc if (c := quantity(a.get("cpu", ""))) is not None]
    mems = [m for a in alloc if (m := quantity(a.get("memory", ""))) is not None]
    gpus = [int(g) for a in alloc if (g := quantity(a.get(GPU, "0"))) is not None]
    cores = int(max(cpus)) if cpus else None
    memory = int(max(mems) // 1024**2) if mems else None
    left = _quota_left(quotas)
    if "cpu" in left:
        cores = int(left["cpu"]) if cores is None else min(cores, int(left["cpu"]))
    if "memory" in left:
        mb = int(left["memory"] // 1024**2)
        memory = mb if memory is None else min(memory, mb)
    most_gpus = max(gpus, default=0)
    if "gpu" in left:
        most_gpus = min(most_gpus, int(left["gpu"])) if gpus else int(left["gpu"])
    partition = Partition(
        name=namespace,
        nodes=len(nodes),
        idle_nodes=sum(1 for n in ready if not (n.get("spec", {}) or {}).get("unschedulable")),
        cores_per_node=cores,
        memory_per_node=memory,
        gpus={"": most_gpus} if most_gpus else {},
        gpu_nodes=sum(1 for g in gpus if g),
        default=True,
    )
    if left:
        why.append(
            "quota left: "
            + ", ".join(
                f"{k} {v:g}" if k != "memory" else f"memory {v / 1024**3:.1f} GiB"
                for k, v in sorted(left.items())
            )
        )
    why.append("Kubernetes: idle nodes are the Ready, schedulable ones (pod load is not read)")
    return ClusterInfo(scheduler="kubernetes", partitions=(partition,), why=tuple(why))


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status", {}) or {}).get("conditions", []) or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _quota_left(quotas: list[dict[str, Any]]) -> dict[str, float]:
    """The least any quota has left for cpu, memory and gpu (limits or requests)."""
    left: dict[str, float] = {}
    for q in quotas:
        status = q.get("status", {}) or {}
        hard, used = status.get("hard", {}) or {}, status.get("used", {}) or {}
        for key, amount in hard.items():
            what = (
                "cpu" if key in ("cpu", "limits.cpu", "requests.cpu")
                else "memory" if key in ("memory", "limits.memory", "requests.memory")
                else "gpu" if key in (f"requests.{GPU}", f"limits.{GPU}")
                else ""
            )  # fmt: skip
            total, spent = quantity(amount), quantity(used.get(key, "0")) or 0.0
            if what and total is not None:
                left[what] = min(left.get(what, total - spent), max(0.0, total - spent))
    return left
