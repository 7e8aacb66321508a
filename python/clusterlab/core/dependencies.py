"""Dependencies (``afterok``): what a new job waits for, and why a job was cancelled.

The backend spells them (SLURM waits for single array tasks, PBS Pro for whole arrays).

A dependency comes from ``after=[...]``, ``f.after(...)``, or a Job/ArrayJob passed as an
argument, which the remote side receives as its result (a reference to the result file,
so the data never travels through the notebook).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..backends.base import Backend, DependencyTarget
from ..common.errors import ClusterlabError
from ..common.states import JobState
from . import ledger
from .array import ArrayJob
from .job import Job
from .live import live


class Dependencies:
    """Collects what to wait for and the job ids to record, for one submission."""

    def __init__(self, backend: Backend, profile_name: str) -> None:
        self.backend = backend
        self.transport = backend.transport
        self.profile_name = profile_name
        self.targets: list[DependencyTarget] = []
        self.ids: list[str] = []
        # Jobs still being submitted (SUBMITTING): their native ids are known only once
        # the submission thread has them, which it does before it submits this job.
        self.waiting: list[Job] = []

    @property
    def natives(self) -> list[str]:
        """The scheduler's ids to wait for, as the backend spells them (ask only once no
        dependency is SUBMITTING any more: see :meth:`unsettled`)."""
        targets = list(self.targets)
        for job in self.waiting:
            if job.done() and job.state == JobState.COMPLETED:
                continue  # satisfied already
            if job.state == JobState.SUBMITTING:
                raise ClusterlabError(
                    f"dependency {job.id} ({job.name}) was still being submitted after 5 "
                    "minutes: look at its state and reason, then submit this again"
                )
            if job.state.finished and job.state != JobState.COMPLETED:
                raise ClusterlabError(
                    f"dependency {job.id} ({job.name}) already ended {job.state}: {job.reason}. "
                    "Rerun it first (e.g. arr.rerun_failed()), or submit without it."
                )
            target = DependencyTarget(job.native_id, job_dir=job.job_dir)
            if job.native_id and target not in targets:
                targets.append(target)
        return self.backend.dependency_ids(targets)

    def unsettled(self) -> list[Job]:
        """Dependencies that the scheduler has not accepted yet (SUBMITTING)."""
        return [job for job in self.waiting if job.state == JobState.SUBMITTING]

    def wait_for_ids(self, timeout: float = 300.0) -> None:
        """Wait until no dependency is SUBMITTING any more (their submission thread is
        at work; it takes milliseconds to seconds). Past ``timeout`` :attr:`natives` says
        which one never got an id."""
        deadline = time.monotonic() + timeout
        while self.unsettled() and time.monotonic() < deadline:
            time.sleep(0.01)

    def add(self, dep: Any) -> None:
        """Wait for ``dep``; refuse what the scheduler cannot wait for, saying why."""
        if not isinstance(dep, Job | ArrayJob):
            raise TypeError(f"after= takes Jobs and ArrayJobs, not {type(dep).__name__}")
        if dep._runtime.transport is not self.transport:
            raise ClusterlabError(
                f"{dep.id} runs on profile {dep.profile!r}, this job on {self.profile_name!r}: "
                "a scheduler can only wait for its own jobs. Wait for it here instead: pass "
                "its value (dep.result()) rather than the job."
            )
        if dep.id not in self.ids:
            self.ids.append(dep.id)
        for job in dep.elements if isinstance(dep, ArrayJob) else [dep]:
            if job.done() and job.state == JobState.COMPLETED:
                continue  # satisfied; the scheduler may have forgotten it already
            if job.state.finished:
                raise ClusterlabError(
                    f"dependency {job.id} ({job.name}) already ended {job.state}: {job.reason}. "
                    "Rerun it first (e.g. arr.rerun_failed()), or submit without it."
                )
            if job.state == JobState.SUBMITTING:
                if job not in self.waiting:
                    self.waiting.append(job)
                continue
            target = (
                DependencyTarget(job.array_native, job.task, job.job_dir)
                if job.array_native
                else DependencyTarget(job.native_id, job_dir=job.job_dir)
            )
            if target not in self.targets:
                self.targets.append(target)

    def references(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        """Replace Job/ArrayJob arguments by result-file references (and wait for them)."""
        args, kwargs = list(args), dict(kwargs)
        refs: dict[str, dict[str, Any]] = {"args": {}, "kwargs": {}}

        def ref(value: Any) -> dict[str, Any] | None:
            if isinstance(value, Job):
                self.add(value)
                return {"path": value.result_path}
            if isinstance(value, ArrayJob):
                self.add(value)
                return {"paths": [j.result_path for j in value.elements]}
            return None

        for pos, value in enumerate(args):
            if (r := ref(value)) is not None:
                refs["args"][str(pos)], args[pos] = r, None
        for key, value in kwargs.items():
            if (r := ref(value)) is not None:
                refs["kwargs"][key], kwargs[key] = r, None
        return args, kwargs, refs


def failure_reason(job: Job) -> str:
    """Which dependency made ``job`` impossible, as a reason sentence."""
    for dep_id in job.after_ids:
        dep = live.get(dep_id)
        if dep is not None:
            if dep.state.finished and dep.state != JobState.COMPLETED:
                return f"dependency failed: job {dep.id} ({dep.name}) ended {dep.state}"
        else:
            rec = ledger.get(dep_id)
            if rec and rec.state in ("FAILED", "CANCELLED", "TIMEOUT", "LOST"):
                return f"dependency failed: job {rec.id} ({rec.name}) ended {rec.state}"
    names = [
        f"job {i} ({dep.name})" if (dep := live.get(i)) is not None else f"job {i}"
        for i in job.after_ids
    ]
    return f"dependency failed: {', '.join(names) or 'an earlier job'} did not complete"


_FAILED = ("FAILED", "CANCELLED", "TIMEOUT", "LOST")


def a_dependency_failed(job: Job) -> bool:
    """Whether a job ``job`` waits for ended without success (live, else in the ledger)."""
    for dep_id in job.after_ids:
        dep = live.get(dep_id)
        if dep is not None and dep.state.finished and dep.state != JobState.COMPLETED:
            return True
        rec = ledger.get(dep_id) if dep is None else None
        if rec is not None and rec.state in _FAILED:
            return True
    return False
