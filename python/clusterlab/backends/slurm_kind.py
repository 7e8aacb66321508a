"""The ``slurm`` scheduler kind (:mod:`.slurm`). Registered in clusterlab's
``clusterlab.schedulers`` entry points."""

from __future__ import annotations

from ..common.kinds import (
    ARRAYS,
    DEPENDENCIES,
    REMOTE,
    RESOURCE_FEATURES,
    TASK_DEPENDENCIES,
    THROTTLE,
    SchedulerKind,
)

KIND = SchedulerKind(
    "slurm",
    "SLURM",
    "sbatch/squeue/scancel, on a login node or over SSH",
    "clusterlab.backends.slurm:SlurmBackend",
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE, *RESOURCE_FEATURES}),
    order=10,
    discovery="clusterlab.backends.slurm_discovery:discover",
    estimate="clusterlab.backends.slurm_estimate:estimate",
    accounting="clusterlab.backends.slurm_accounting:usage",
)
