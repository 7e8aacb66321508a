"""Reattaching: rebuild a job or an array of another process from its ledger row.

Finished jobs are polled once too: their status files settle them and their results are
downloaded on that poll, so ``.result()`` works after a kernel restart. A job whose files
were cleaned up keeps its state but says plainly that its result is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.errors import ClusterlabError, JobError
from ..common.states import JobState
from ..config.resources import Resources, parse_resources
from . import ledger
from .array import ArrayJob, ArrayPart
from .job import Job
from .live import live
from .plan import Plan

if TYPE_CHECKING:
    from .runtime import Runtime


def reattach(runtime: Runtime, rec: ledger.JobRecord) -> Job | ArrayJob:
    """Rebuild a job or array of another process from its ledger row and watch it.

    Finished jobs are polled once too: their status files settle them and their results
    are downloaded on that poll, so ``.result()`` works after a kernel restart.
    """
    resources = parse_resources(rec.resources)
    if rec.cleaned:
        return _cleaned(runtime, rec, resources)
    if rec.kind == "job":
        job = Job(runtime, rec.id, rec.name, rec.native_id, rec.job_dir, resources, after=rec.after)
        _restore(runtime, job, rec.state, rec.reason, rec.submitted, rec.started, rec.ended)
        live[rec.id] = job
        if not job.done():
            runtime.watcher.add(job)
        return job
    tasks = sum(len(p["task_items"]) for p in rec.spec.get("parts", []))
    chunksize = int(rec.spec.get("chunksize", 1))
    plan = rec.spec.get("plan") or {"items": rec.size, "tasks": tasks, "chunksize": chunksize}
    array = ArrayJob(runtime, rec.id, rec.name, rec.size, Plan(**plan))
    array.submitted_at = rec.submitted
    states = {i: (state, reason, a, b) for i, state, reason, a, b in ledger.items(rec.id)}
    elements: dict[int, Job] = {}
    for p in rec.spec.get("parts", []):
        part = ArrayPart(
            array, p["native_id"], p["job_dir"], p["task_items"], pool=bool(p.get("pool"))
        )
        for task, indices in enumerate(part.task_items):
            for index in indices:
                job = Job(
                    runtime,
                    f"{rec.id}:{index}",
                    f"{rec.name}[{index}]",
                    f"{part.native_id}_{task}",
                    part.job_dir,
                    resources,
                    after=rec.after,
                    array_id=rec.id,
                    index=index,
                    task=task,
                )
                state, reason, started, ended = states.get(index, ("PENDING", "", None, None))
                _restore(runtime, job, state, reason, rec.submitted, started, ended)
                part.jobs[index] = job
                elements[index] = job  # later parts (reruns) replace earlier items
        array.parts.append(part)
    array.elements = [elements[i] for i in sorted(elements)]
    live[rec.id] = array
    runtime._arrays[rec.id] = array
    for part in array.parts:
        if any(part.jobs[i] is elements[i] and not elements[i].done() for i in part.jobs):
            runtime.watcher.add(part)
    return array


def _cleaned(runtime: Runtime, rec: ledger.JobRecord, resources: Resources) -> Job:
    """A job whose files were deleted: its state is known, its result is gone."""
    if rec.kind == "array":
        raise ClusterlabError(
            f"array {rec.id} was cleaned up (its files were deleted); its results are gone"
        )
    job = Job(runtime, rec.id, rec.name, rec.native_id, rec.job_dir, resources, after=rec.after)
    job._job_state, job._job_reason = JobState(rec.state), rec.reason
    job.submitted_at, job.started_at, job.ended_at = rec.submitted, rec.started, rec.ended
    job.set_exception(
        JobError(
            f"job {rec.id} ({rec.name}) ended {rec.state}, but its files were deleted by "
            "cleanup (job.cleanup() or cl.jobs.gc()): its result and logs are gone",
            job_id=rec.id,
            state=rec.state,
            reason=rec.reason,
        )
    )
    live[rec.id] = job
    return job


def _restore(
    runtime: Runtime,
    job: Job,
    state: str,
    reason: str,
    submitted: float,
    started: float | None,
    ended: float | None,
) -> None:
    job._job_state, job._job_reason = JobState(state), reason
    job.submitted_at, job.started_at, job.ended_at = submitted, started, ended
    if job.state in (JobState.CANCELLED, JobState.TIMEOUT, JobState.LOST):
        runtime._fail(job, job.state, reason)  # nothing left to download
