"""The one registry of scheduler kinds.

Profile validation, the CLI's prompts, the lab panel's scheduler menu (over the comm) and
the docs' support table all read :data:`KINDS`. It is plain data and imports no backend
(the class is named as ``module:Class`` and loaded on first use), so the configuration
layer may read it without importing the machinery above it.

Adding a scheduler = one backend module + one entry here (+ its dialect in
``tests/integration/test_conformance.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config.profile import Profile
    from ..transports.base import Transport
    from .base import Backend

ARRAYS = "arrays"  # native array jobs (one submission for a whole map)
THROTTLE = "throttle"  # a cap on an array's tasks running at once
DEPENDENCIES = "dependencies"  # a job waits for others (afterok)
TASK_DEPENDENCIES = "task dependencies"  # ...for single tasks of an array, not just all of it
REMOTE = "over SSH"  # runs on another machine through the SSH transport
FEATURES = (ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE)
# What a resource request may need (config.resources.Resources.needs names them). A kind
# that has a feature renders it; one that lists it in `ignores` accepts it without effect;
# any other refuses it at submission with its `refusals` sentence.
QOS = "qos"  # a quality of service (SLURM --qos)
CONSTRAINT = "node features"  # constraint= (SLURM --constraint)
GPU_TYPES = "GPU types"  # gpus="a100:2"
NODES = "several nodes"  # nodes > 1
TASKS = "several tasks"  # tasks > 1: an allocation the job's code starts tasks in
RESOURCE_FEATURES = (QOS, CONSTRAINT, GPU_TYPES, NODES, TASKS)


@dataclass(frozen=True)
class SchedulerKind:
    """What a profile's ``scheduler`` value means and what its backend can do."""

    name: str  # the profile value, e.g. "slurm"
    label: str  # how people write it, e.g. "SLURM"
    summary: str  # one line for menus, prompts and docs
    backend: str  # "module:Class" (or a factory) under clusterlab.backends, loaded on first use
    features: frozenset[str] = field(default_factory=frozenset)
    ignores: frozenset[str] = field(default_factory=frozenset)  # accepted, not enforced
    refusals: Mapping[str, str] = field(default_factory=dict)  # feature -> what to do

    @property
    def remote(self) -> bool:
        """Whether a profile of this kind may name a host (SSH fields apply)."""
        return REMOTE in self.features

    def load(self) -> Callable[[Profile, Transport], Backend]:
        """The backend class, or a factory choosing one (the PBS family's flavors)."""
        module, _, cls = self.backend.partition(":")
        backend: Callable[[Profile, Transport], Backend] = getattr(
            importlib.import_module(module, __package__), cls
        )
        return backend


KINDS: dict[str, SchedulerKind] = {
    k.name: k
    for k in (
        SchedulerKind(
            "local",
            "this machine",
            "jobs run as processes on the machine of the kernel, a few at a time",
            ".local:LocalBackend",
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES}),
            # like partition and account: a decorator written for a cluster runs here too
            ignores=frozenset({QOS, CONSTRAINT, GPU_TYPES}),
            refusals={
                NODES: "it runs each job as one process on this machine; use a SLURM or "
                "PBS profile for several nodes, or leave nodes out to run it here",
                TASKS: "it starts no tasks for your code (no srun or mpiexec here); use a "
                "SLURM or PBS profile for several tasks, or leave tasks out to run the "
                "function once here",
            },
        ),
        SchedulerKind(
            "slurm",
            "SLURM",
            "sbatch/squeue/scancel, on a login node or over SSH",
            ".slurm:SlurmBackend",
            frozenset(
                {ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE, *RESOURCE_FEATURES}
            ),
        ),
        SchedulerKind(
            "pbs",
            "PBS Pro / TORQUE",
            "qsub/qstat/qdel of PBS Professional, OpenPBS or TORQUE (pbs_flavor), on a login "
            "node or over SSH",
            ".torque:make_pbs_backend",
            # afterok names whole arrays only: waiting for one item waits for its whole map
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, REMOTE, NODES, TASKS}),
            refusals={
                QOS: "PBS has no QOS; a job's priority and limits come from its queue, so "
                "ask for one with queue='...' (ask your admins which) and leave qos out",
                CONSTRAINT: "PBS has no node features to constrain on; sites name node "
                "types as a queue or a resource of the select chunk, so ask your admins "
                "and use queue='...' or extra=['-l ...'] instead",
                GPU_TYPES: "PBS has no standard GPU type; ask for a count (gpus=2 becomes "
                "ngpus=2) and choose the model the site's way, usually a queue such as "
                "queue='gpu_a100' (ask your admins)",
            },
        ),
        SchedulerKind(
            "kubernetes",
            "Kubernetes",
            "a batch/v1 Job per call, an Indexed Job per map, in a kubeconfig context",
            ".kubernetes:KubernetesBackend",
            # no afterok in Kubernetes: dependents are held by the kernel (see docs)
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES}),
        ),
        SchedulerKind(
            "sge",
            "Grid Engine",
            "qsub/qstat/qdel of (Son of / Sun / Open) Grid Engine, on a login node or over SSH",
            ".sge:SgeBackend",
            # -hold_jid names whole arrays only: waiting for one item waits for its whole map
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, REMOTE}),
            refusals={
                QOS: "Grid Engine has no QOS; priority and limits come from queues and "
                "projects, so ask for a queue='...' or a project with extra=['-P NAME'] "
                "(ask your admins which) and leave qos out",
                CONSTRAINT: "Grid Engine has no standard node features; sites define host "
                "resources, so ask your admins for the name and pass it with "
                "extra=['-l NAME=VALUE'] instead",
                GPU_TYPES: "Grid Engine has no standard GPU resource, typed or not; sites "
                "name their own, so ask your admins and pass it with extra=['-l gpu=1'] "
                "or queue='gpu.q', leaving gpus out",
                NODES: "clusterlab gives a Grid Engine job cores on one host (-pe with the "
                "profile's sge_pe); a job across hosts needs the site's MPI parallel "
                "environment: leave nodes out and pass extra=['-pe mpi 32'] instead",
                TASKS: "clusterlab starts no MPI tasks on Grid Engine; for an MPI job pass "
                "the site's parallel environment with extra=['-pe mpi 32'] and leave "
                "tasks out",
            },
        ),
        SchedulerKind(
            "direct",
            "no scheduler (direct)",
            "jobs run as processes on an SSH host (or this machine) with no batch system, "
            "queued on that host, a few at a time",
            ".direct:DirectBackend",
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE}),
            # as on 'local': a decorator written for a cluster runs here too
            ignores=frozenset({QOS, CONSTRAINT, GPU_TYPES}),
            refusals={
                NODES: "it runs each job as one process on one host; use a SLURM or PBS "
                "profile for several nodes, or leave nodes out to run it there",
                TASKS: "it starts no tasks for your code (no srun or mpiexec there); use a "
                "SLURM or PBS profile for several tasks, or leave tasks out to run the "
                "function once",
            },
        ),
    )
}


def names() -> tuple[str, ...]:
    """Every scheduler a profile may name."""
    return tuple(KINDS)


def choices_help() -> str:
    """Every kind as a form's help names it: "'slurm' (SLURM), 'sge' (Grid Engine), ..."
    (generated, so a kind added here is in the help the moment it is in the menu)."""
    return ", ".join(f"'{k.name}' ({k.label})" for k in KINDS.values())


def remote_names() -> tuple[str, ...]:
    """Schedulers that may run on another machine (the SSH fields apply to them)."""
    return tuple(k.name for k in KINDS.values() if k.remote)


def get(name: str) -> SchedulerKind:
    """The kind called ``name``; a ValueError naming the valid ones otherwise."""
    kind = KINDS.get(str(name).lower())
    if kind is None:
        raise ValueError(f"{name!r} is not supported; choose one of: {', '.join(KINDS)}")
    return kind
