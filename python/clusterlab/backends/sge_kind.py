"""The ``sge`` scheduler kind: (Son of / Sun / Open) Grid Engine (:mod:`.sge`), with its
``sge_pe`` and ``sge_settings`` profile fields. Registered in clusterlab's
``clusterlab.schedulers`` entry points."""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from ..common.kinds import (
    ARRAYS,
    CONSTRAINT,
    DEPENDENCIES,
    GPU_TYPES,
    NODES,
    QOS,
    REMOTE,
    TASKS,
    THROTTLE,
    KindField,
    SchedulerKind,
)
from ..config.fieldmeta import meta
from ..config.validators import one_path, text_value

NAME = "sge"
_SGE_PE_RE = re.compile(r"^[A-Za-z0-9_.*][A-Za-z0-9_.*-]{0,63}\Z")
_SGE_RESOURCE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")


def check_sge_pe(value: Any) -> str:
    """A Grid Engine parallel environment name (``qconf -spl``), wildcards allowed."""
    text = text_value(value, "smp").strip() or "smp"
    if not _SGE_PE_RE.match(text):
        raise ValueError(
            "give the name of a parallel environment as `qconf -spl` lists it, e.g. 'smp' "
            "(letters, digits, '_', '.', '-', '*')"
        )
    return text


def check_sge_gpu_resource(value: Any) -> str:
    """Empty, or the name of the site's GPU resource (``qconf -sc``), e.g. ``gpu``."""
    text = text_value(value, "gpu").strip()
    if text and not _SGE_RESOURCE_RE.match(text):
        raise ValueError(
            "give the name of the GPU resource as `qconf -sc` lists it, e.g. 'gpu' "
            "(letters, digits, '_', '.', '-')"
        )
    return text


def check_sge_settings(value: Any) -> str:
    """Empty, or the path of Grid Engine's settings.sh on the cluster (absolute or ~/)."""
    example = "/opt/sge/default/common/settings.sh"
    text = one_path(value, example).strip()
    if text and not (text.startswith("/") or text.startswith("~/")):
        raise ValueError(
            f"{text[:40]!r} is a relative path: give the full path of the settings file, "
            f"$SGE_ROOT/$SGE_CELL/common/settings.sh, e.g. {example!r}"
        )
    return text


SGE_PE = KindField(
    "sge_pe",
    "str",
    field(
        default="smp",
        metadata=meta(
            "Parallel environment",
            "The Grid Engine parallel environment that keeps a job's cores on one host: a "
            "job asking for cores=N is submitted with `-pe NAME N`. Often 'smp'; `qconf -spl` "
            "lists your cluster's and its documentation says which one to use.",
            "smp",
            kinds=(NAME,),
            check=check_sge_pe,
        ),
    ),
)

SGE_GPU_RESOURCE = KindField(
    "sge_gpu_resource",
    "str",
    field(
        default="",
        metadata=meta(
            "GPU resource",
            "The name your Grid Engine site gives its GPUs (a consumable in `qconf -sc`, "
            "often 'gpu'): a job asking for gpus=N is submitted with `-l NAME=N`. Grid "
            "Engine has no standard one, so gpus= is refused until this is set.",
            "gpu",
            kinds=(NAME,),
            check=check_sge_gpu_resource,
        ),
    ),
)

SGE_SETTINGS = KindField(
    "sge_settings",
    "str",
    field(
        default="",
        metadata=meta(
            "Grid Engine settings file",
            "$SGE_ROOT/$SGE_CELL/common/settings.sh on the cluster, sourced before every "
            "qsub, qstat, qacct and qdel: a command over SSH does not read your login files, "
            "so it may not find Grid Engine or may talk to another cell. Empty: the "
            "commands run with the environment the login (or this machine) gives them.",
            "/opt/sge/default/common/settings.sh",
            kinds=(NAME,),
            check=check_sge_settings,
        ),
    ),
)

KIND = SchedulerKind(
    NAME,
    "Grid Engine",
    "qsub/qstat/qdel of (Son of / Sun / Open) Grid Engine, on a login node or over SSH",
    "clusterlab.backends.sge:SgeBackend",
    # -hold_jid names whole arrays only: waiting for one item waits for its whole map
    # tasks=N: the slots of N tasks in the profile's sge_pe, started on the job's host
    # (mpirun where the PE gives hosts and it exists, else N processes: runner_tasks.py)
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, REMOTE, TASKS}),
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
    },
    fields=(SGE_PE, SGE_GPU_RESOURCE, SGE_SETTINGS),
    # the settings file chooses the cell: two cells on one host are two clusters
    cluster_key=("sge_settings",),
    order=40,
    discovery="clusterlab.backends.sge_discovery:discover",
    accounting="clusterlab.backends.sge_accounting:usage",
)
