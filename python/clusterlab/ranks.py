"""``cl.task()``: where the calling task stands in its job (rank, world size, local rank,
node, attempt), for functions run with ``tasks=N``.

It reads the variables the job's runner sets in every task (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``CLUSTERLAB_NODE``, ``CLUSTERLAB_ATTEMPT``), so it works the same in a
job, where clusterlab may not even be installed (the runner then provides a stand-in
``clusterlab`` module with the same ``task`` and ``TaskInfo``: remote/runner_tasks.py), and
outside one, where it is rank 0 of 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .common import jobdir


@dataclass(frozen=True)
class TaskInfo:
    """Where a task stands in its job. ``attempt`` is 0 on the job's first run and counts
    up when the job is requeued or retried."""

    rank: int
    world_size: int
    local_rank: int
    node: int
    attempt: int


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def task() -> TaskInfo:
    """This task's place in its job: ``rank`` (0..world_size-1), ``world_size``,
    ``local_rank`` (among the tasks on its node), ``node`` (index of its node) and
    ``attempt``. Outside a multi-task job: rank 0 of 1."""
    return TaskInfo(
        rank=_int_env("RANK", 0),
        world_size=_int_env("WORLD_SIZE", 1),
        local_rank=_int_env("LOCAL_RANK", 0),
        node=_int_env(jobdir.NODE_VAR, 0),
        attempt=_int_env(jobdir.ATTEMPT_VAR, 0),
    )
