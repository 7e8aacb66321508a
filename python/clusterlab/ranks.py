"""``cl.task()``: where the calling task stands in its job (rank, world size, local rank,
node, attempt), for functions run with ``tasks=N``.

It reads what the job's runner sets in every task (``CLUSTERLAB_TASK_INFO``, beside the
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` that frameworks read, and
``CLUSTERLAB_ATTEMPT``): clusterlab's own variable, which the runner of any job clears, so
a job submitted from inside a task is rank 0 of 1. It works the same in a job, where
clusterlab may not even be installed (the runner then provides a stand-in
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
    parts = os.environ.get(jobdir.TASK_INFO_VAR, "").split(",")
    try:
        rank, world, local, node = (int(p) for p in parts)
    except ValueError:  # not in a task (or not a value the runner wrote)
        rank, world, local, node = 0, 1, 0, 0
    return TaskInfo(rank, world, local, node, attempt=_int_env(jobdir.ATTEMPT_VAR, 0))
