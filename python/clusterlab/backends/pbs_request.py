"""A clusterlab resource request in PBS Professional's terms: the ``#PBS`` resource lines.

A job is ``nodes`` chunks (one when nodes is not given) placed one per node, each with
its share of the tasks as ``mpiprocs`` and ``cores`` CPUs per task as ``ncpus``; memory
and GPUs are per chunk, i.e. per node, as SLURM's ``--mem`` and ``--gres``. So
``nodes=2, tasks=8, cores=4`` is ``select=2:ncpus=16:mpiprocs=4`` with
``place=scatter``. What PBS has no word for (qos, constraint, a GPU type) is refused
before this module is reached (``refusals`` of the registry entry).
"""

from __future__ import annotations

import re

from ..common.errors import ResourceError
from ..config.resources import Resources

_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}(@[A-Za-z0-9][A-Za-z0-9_.-]*)?\Z")
# Options clusterlab writes itself; an extra one would fight it.
_OWNED = {
    "-N": "the job name comes from the function (or name=)",
    "-J": "arrays come from .map() (max_concurrent= sets the %N throttle)",
    "-o": "clusterlab collects the job's output in its job directory",
    "-e": "clusterlab collects the job's output in its job directory",
    "-j": "clusterlab collects the job's output in its job directory",
    "-k": "clusterlab collects the job's output in its job directory",
    "-W depend": "dependencies come from after=[...] or from Jobs passed as arguments",
}


def walltime(seconds: int) -> str:
    """HH:MM:SS with hours past 24 (PBS has no day part)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def tasks_per_node(r: Resources, scheduler: str, unit: str) -> int:
    """The tasks on each of ``nodes``: both PBS flavors give every node the same number
    (of ``unit``), so tasks that do not divide evenly are refused with the two nearest."""
    nodes = r.nodes or 1
    per_node, uneven = divmod(r.task_count, nodes)
    if uneven:
        raise ResourceError(
            f"tasks={r.tasks} on nodes={nodes}: {scheduler} gives every node the same number "
            f"of {unit}, so ask for a multiple of nodes, e.g. "
            f"tasks={per_node * nodes or nodes} or tasks={(per_node + 1) * nodes}"
        )
    return per_node


def select(r: Resources, gpu_resource: str = "ngpus") -> list[str]:
    """``-l select=...`` (and ``-l place=scatter`` for several nodes), or nothing when the
    request leaves the size to the server's defaults. GPUs are ``gpu_resource`` (the
    profile's ``pbs_gpu_resource``: sites that define their own name use it, not ngpus)."""
    if not (r.cores or r.memory_mb or r.gpus or r.nodes or r.tasks):
        return []
    chunks = r.nodes or 1
    per_chunk = tasks_per_node(r, "PBS", "tasks")
    chunk = [str(chunks), f"ncpus={(r.cores or 1) * per_chunk}"]
    if per_chunk > 1:
        chunk.append(f"mpiprocs={per_chunk}")  # $PBS_NODEFILE lists each node this often
    if r.memory_mb:
        chunk.append(f"mem={r.memory_mb}mb")
    if r.gpus:
        chunk.append(f"{gpu_resource}={r.gpus}")
    opts = [f"-l select={':'.join(chunk)}"]
    if chunks > 1:
        opts.append("-l place=scatter")  # one chunk per node, as SLURM's --nodes
    return opts


def resource_options(r: Resources, gpu_resource: str = "ngpus") -> list[str]:
    """Every resource line but the extras: size, walltime, queue, account."""
    return select(r, gpu_resource) + placement_options(r, "PBS", "workq")


def placement_options(r: Resources, scheduler: str, example_queue: str) -> list[str]:
    """Walltime, queue and account: written the same way by both PBS flavors."""
    opts = []
    if r.time_s:
        opts.append(f"-l walltime={walltime(r.time_s)}")
    if r.partition:
        if not _QUEUE_RE.match(r.partition):
            raise ResourceError(
                f"queue {r.partition!r} is not a {scheduler} queue name: up to 15 letters, "
                f"digits, '_', '.' or '-' (optionally @server), e.g. "
                f"partition={example_queue!r}"
            )
        opts.append(f"-q {r.partition}")
    if r.account:
        opts.append(f"-A {r.account}")
    return opts


def extra_option(option: str) -> str:
    """A user's extra ``#PBS`` option, refused with a sentence when PBS cannot take it."""
    if option.startswith("--"):
        raise ResourceError(
            f"extra={option!r} looks like a SLURM option; PBS options are single-dash, e.g. "
            "extra=['-l place=excl'] or extra=['-P myproject']"
        )
    for prefix, why in _OWNED.items():
        if (
            option == prefix
            or option.startswith((f"{prefix} ", f"{prefix}="))
            or (len(prefix) == 2 and option.startswith(prefix) and option[2:3].isalnum())
        ):
            raise ResourceError(f"extra={option!r} is not allowed with PBS: {why}")
    return option
