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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Backend

ARRAYS = "arrays"  # native array jobs (one submission for a whole map)
THROTTLE = "throttle"  # a cap on an array's tasks running at once
DEPENDENCIES = "dependencies"  # a job waits for others (afterok)
TASK_DEPENDENCIES = "task dependencies"  # ...for single tasks of an array, not just all of it
REMOTE = "over SSH"  # runs on another machine through the SSH transport
FEATURES = (ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE)


@dataclass(frozen=True)
class SchedulerKind:
    """What a profile's ``scheduler`` value means and what its backend can do."""

    name: str  # the profile value, e.g. "slurm"
    label: str  # how people write it, e.g. "SLURM"
    summary: str  # one line for menus, prompts and docs
    backend: str  # "module:Class" under clusterlab.backends, loaded on first use
    features: frozenset[str] = field(default_factory=frozenset)

    @property
    def remote(self) -> bool:
        """Whether a profile of this kind may name a host (SSH fields apply)."""
        return REMOTE in self.features

    def load(self) -> type[Backend]:
        module, _, cls = self.backend.partition(":")
        backend: type[Backend] = getattr(importlib.import_module(module, __package__), cls)
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
        ),
        SchedulerKind(
            "slurm",
            "SLURM",
            "sbatch/squeue/scancel, on a login node or over SSH",
            ".slurm:SlurmBackend",
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE}),
        ),
        SchedulerKind(
            "pbs",
            "PBS Pro",
            "qsub/qstat/qdel of PBS Professional or OpenPBS, on a login node or over SSH",
            ".pbs:PbsBackend",
            # afterok names whole arrays only: waiting for one item waits for its whole map
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, REMOTE}),
        ),
        SchedulerKind(
            "kubernetes",
            "Kubernetes",
            "a batch/v1 Job per call, an Indexed Job per map, in a kubeconfig context",
            ".kubernetes:KubernetesBackend",
            # no afterok in Kubernetes: dependents are held by the kernel (see docs)
            frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES}),
        ),
    )
}


def names() -> tuple[str, ...]:
    """Every scheduler a profile may name."""
    return tuple(KINDS)


def remote_names() -> tuple[str, ...]:
    """Schedulers that may run on another machine (the SSH fields apply to them)."""
    return tuple(k.name for k in KINDS.values() if k.remote)


def get(name: str) -> SchedulerKind:
    """The kind called ``name``; a ValueError naming the valid ones otherwise."""
    kind = KINDS.get(str(name).lower())
    if kind is None:
        raise ValueError(f"{name!r} is not supported; choose one of: {', '.join(KINDS)}")
    return kind
