"""The ``pbs`` scheduler kind: PBS Professional, OpenPBS and TORQUE (:mod:`.pbs`,
:mod:`.torque`), with its ``pbs_flavor`` profile field. Registered in clusterlab's
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
from ..config.validators import text_value

NAME = "pbs"
PBS_FLAVORS = ("auto", "pro", "torque")
DEFAULT_GPU_RESOURCE = "ngpus"  # PBS Professional's built-in name; sites may define their own
_PBS_RESOURCE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")


def check_pbs_flavor(value: Any) -> str:
    text = text_value(value, "auto").strip().lower() or "auto"
    if text not in PBS_FLAVORS:
        raise ValueError(
            "choose 'pro' (PBS Professional/OpenPBS), 'torque' (TORQUE) or 'auto' (ask "
            "`qstat --version`)"
        )
    return text


def check_pbs_gpu_resource(value: Any) -> str:
    """The name of the site's GPU chunk resource (``qmgr -c 'list resource'``); empty
    means PBS Professional's own ``ngpus``."""
    text = text_value(value, DEFAULT_GPU_RESOURCE).strip() or DEFAULT_GPU_RESOURCE
    if not _PBS_RESOURCE_RE.match(text):
        raise ValueError(
            "give the name of the GPU resource as `qmgr -c 'list resource'` lists it, e.g. "
            "'ngpus' or 'gpu' (a letter, then letters, digits, '_' or '-')"
        )
    return text


PBS_FLAVOR = KindField(
    "pbs_flavor",
    "str",
    field(
        default="auto",
        metadata=meta(
            "PBS flavor",
            "Which PBS the cluster runs: 'pro' (PBS Professional or OpenPBS: qsub -J, "
            "select=), 'torque' (TORQUE/Moab: qsub -t, nodes=N:ppn=C), or 'auto' to ask "
            "`qstat --version` once when the profile is first used.",
            "auto",
            kinds=(NAME,),
            check=check_pbs_flavor,
            widget="choice",
            choices=PBS_FLAVORS,
        ),
    ),
)

PBS_GPU_RESOURCE = KindField(
    "pbs_gpu_resource",
    "str",
    field(
        default=DEFAULT_GPU_RESOURCE,
        metadata=meta(
            "GPU resource",
            "The name your PBS Professional site gives GPUs in a select chunk: a job asking "
            "for gpus=N is submitted with `-l select=...:NAME=N`. PBS's own is 'ngpus'; "
            "some sites define another (`qmgr -c 'list resource'` lists them). TORQUE "
            "writes `nodes=N:ppn=C:gpus=N` whatever this says.",
            DEFAULT_GPU_RESOURCE,
            kinds=(NAME,),
            check=check_pbs_gpu_resource,
        ),
    ),
)

KIND = SchedulerKind(
    NAME,
    "PBS Pro / TORQUE",
    "qsub/qstat/qdel of PBS Professional, OpenPBS or TORQUE (pbs_flavor), on a login "
    "node or over SSH",
    "clusterlab.backends.torque:make_pbs_backend",
    # afterok names whole arrays only: waiting for one item waits for its whole map
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, REMOTE, NODES, TASKS}),
    refusals={
        QOS: "PBS has no QOS; a job's priority and limits come from its queue, so "
        "ask for one with queue='...' (ask your admins which) and leave qos out",
        CONSTRAINT: "PBS has no node features to constrain on; sites name node "
        "types as a queue or a resource of the select chunk, so ask your admins "
        "and use queue='...' or extra=['-l ...'] instead",
        GPU_TYPES: "PBS has no standard GPU type; ask for a count (gpus=2 becomes "
        "ngpus=2, or the profile's pbs_gpu_resource) and choose the model the "
        "site's way, usually a queue such as queue='gpu_a100' (ask your admins)",
    },
    fields=(PBS_FLAVOR, PBS_GPU_RESOURCE),
    # PBS Pro and TORQUE on one host are different scheduler instances
    cluster_key=("pbs_flavor",),
    offline_backend="clusterlab.backends.torque:make_offline_pbs_backend",
    order=20,
    discovery="clusterlab.backends.pbs_discovery:discover",
)
