"""The ``direct`` scheduler kind: no batch system, jobs run as processes on an SSH host
(or this machine), queued there (:mod:`.direct`). Registered in clusterlab's
``clusterlab.schedulers`` entry points."""

from __future__ import annotations

from ..common.kinds import (
    ARRAYS,
    CONSTRAINT,
    DEPENDENCIES,
    GPU_TYPES,
    NODES,
    QOS,
    REMOTE,
    TASK_DEPENDENCIES,
    TASKS,
    THROTTLE,
    SchedulerKind,
)

KIND = SchedulerKind(
    "direct",
    "no scheduler (direct)",
    "jobs run as processes on an SSH host (or this machine) with no batch system, "
    "queued on that host, a few at a time",
    "clusterlab.backends.direct:DirectBackend",
    # tasks=N: N processes of the function on the host (remote/runner_tasks.py)
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE, TASKS}),
    # as on 'local': a decorator written for a cluster runs here too
    ignores=frozenset({QOS, CONSTRAINT, GPU_TYPES}),
    refusals={
        NODES: "it runs each job as one process on one host; use a SLURM or PBS "
        "profile for several nodes, or leave nodes out to run it there",
    },
    queues_itself=True,
    order=50,
)
