"""The ``local`` scheduler kind: jobs run as processes on the kernel's machine
(:mod:`.local`). Registered in clusterlab's ``clusterlab.schedulers`` entry points."""

from __future__ import annotations

from ..common.kinds import (
    ARRAYS,
    CONSTRAINT,
    DEPENDENCIES,
    GPU_TYPES,
    NODES,
    QOS,
    TASK_DEPENDENCIES,
    TASKS,
    THROTTLE,
    SchedulerKind,
)

KIND = SchedulerKind(
    "local",
    "this machine",
    "jobs run as processes on the machine of the kernel, a few at a time",
    "clusterlab.backends.local:LocalBackend",
    # tasks=N: N processes of the function on this machine (remote/runner_tasks.py)
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, TASKS}),
    # like partition and account: a decorator written for a cluster runs here too
    ignores=frozenset({QOS, CONSTRAINT, GPU_TYPES}),
    refusals={
        NODES: "it runs each job as one process on this machine; use a SLURM or "
        "PBS profile for several nodes, or leave nodes out to run it here",
    },
    queues_itself=True,
    order=0,
)
