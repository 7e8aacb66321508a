"""What submitting a job again needs, kept on this machine beside the ledger, so that a
kernel that reattached to a job with ``retries=`` (or ``requeue=True`` where the scheduler
cannot requeue) can submit it again as the kernel that submitted it would have: its job
spec, its policy's counts, and how many times it was already submitted again.

One JSON file per job under ``<data dir>/resubmit/`` (dir 0700, file 0600, replaced
atomically). It holds only what the profile store and the job's own script already hold
(resources, the Python command, setup lines, the profile's ``env``): no password, key,
one-time code or askpass answer is ever part of a job spec. ``retry_on`` and
``on_signal`` are not kept: the runner has its own copy of them in the job dir.

Two processes watching the same job (the submitting kernel and one that reattached) may
both see its failure: :func:`claim` lets only one of them submit it again for a given
number of runs; the other adopts the new scheduler id from the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...backends.base import ArraySpec, JobSpec
from ...config.attempts import AttemptPolicy
from ...config.paths import data_dir, private_dir, write_private
from ...config.resources import parse_resources

_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_POLICY_FIELDS = ("requeue", "max_requeues", "retries", "retry_backoff", "grace_s")


@dataclass
class Plan:
    """A job that may be submitted again, and how far its reruns have gone."""

    spec: JobSpec
    policy: AttemptPolicy
    reruns: int = 0
    requeues: int = 0  # submitted again after a noted requeue (requeues_by_resubmission)
    floor: int = 0  # runs in the status file when it was last submitted
    causes: dict[int, str] = field(default_factory=dict)  # attempt -> why it was rerun
    waiting: bool = False  # between its failure and its new submission (not persisted)


def _dir() -> Path:
    return data_dir() / "resubmit"


def _path(job_id: str) -> Path:
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise ValueError(f"not a job id: {job_id!r}")
    return _dir() / f"{job_id}.json"


def _spec_dict(spec: JobSpec) -> dict[str, Any]:
    out = asdict(spec)
    out["resources"] = spec.resources.to_dict()
    out["inputs"] = [list(pair) for pair in spec.inputs]
    return out


def _spec_of(data: dict[str, Any]) -> JobSpec:
    data = dict(data)
    data["resources"] = parse_resources(data["resources"])
    data["inputs"] = [tuple(pair) for pair in data.get("inputs", [])]
    if data.get("array") is not None:
        data["array"] = ArraySpec(**data["array"])
    return JobSpec(**data)


def save(job_id: str, plan: Plan) -> None:
    """Write (or rewrite) the job's plan; an OSError is the caller's to report."""
    body = {
        "spec": _spec_dict(plan.spec),
        "policy": {name: getattr(plan.policy, name) for name in _POLICY_FIELDS},
        "reruns": plan.reruns,
        "requeues": plan.requeues,
        "floor": plan.floor,
        "causes": {str(k): v for k, v in plan.causes.items()},
    }
    write_private(_path(job_id), json.dumps(body, sort_keys=True).encode())


def load(job_id: str) -> Plan | None:
    """The job's plan as last saved by any process; None when it has none (it was never
    to be submitted again, or its reruns are over)."""
    try:
        body = json.loads(_path(job_id).read_text())
    except FileNotFoundError:
        return None
    policy = AttemptPolicy(**{k: v for k, v in body["policy"].items() if k in _POLICY_FIELDS})
    return Plan(
        spec=_spec_of(body["spec"]),
        policy=policy,
        reruns=int(body["reruns"]),
        requeues=int(body["requeues"]),
        floor=int(body["floor"]),
        causes={int(k): str(v) for k, v in body["causes"].items()},
    )


def drop(job_id: str) -> None:
    """The job will not be submitted again: forget its plan and its claims."""
    with contextlib.suppress(FileNotFoundError):
        _path(job_id).unlink()
    with contextlib.suppress(FileNotFoundError):
        for claimed in _dir().glob(f"{job_id}.*.claim"):
            with contextlib.suppress(FileNotFoundError):
                claimed.unlink()


def claim(job_id: str, ended: str) -> bool:
    """Whether this process is the one to submit the job again after the end of its
    submission ``ended`` (its scheduler id): an exclusive create, so of several processes
    that saw the same end one wins."""
    _path(job_id)  # checks the id
    private_dir(_dir())
    which = hashlib.sha256(ended.encode()).hexdigest()[:16]  # any scheduler's id spelling
    try:
        fd = os.open(_dir() / f"{job_id}.{which}.claim", _EXCLUSIVE, 0o600)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True
