"""Jobs and ledger rows, both ways: the rows a submission writes, the state changes a poll
writes (one transaction), and reattaching (rebuilding a job or an array of another process
from its row).

Finished jobs are polled once on reattach too: their status files settle them and their
results are downloaded on that poll, so ``.result()`` works after a kernel restart. A job
last known LOST is polled once more and revived if its files showed up since. A job
whose files were cleaned up keeps its state but says plainly that its result is gone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..common.errors import ClusterlabError, JobError
from ..common.states import JobState
from ..config.resources import Resources, parse_resources
from . import ledger
from .array import ArrayJob, ArrayPart
from .job import Job
from .live import live
from .plan import Plan
from .settle import GONE, PRESENT

if TYPE_CHECKING:
    from .runtime import Runtime


def _profile_json(runtime: Runtime) -> str:
    return json.dumps(runtime.profile.to_dict(), sort_keys=True)


def record_job(runtime: Runtime, job: Job) -> None:
    """The row of a job the scheduler just accepted."""
    ledger.record(
        {
            "id": job.id,
            "kind": "job",
            "profile": runtime.profile.name,
            "profile_json": _profile_json(runtime),
            "name": job.name,
            "native_id": job.native_id,
            "job_dir": job.job_dir,
            "resources": job.resources.to_dict(),
            "after": job.after_ids,
            "submitted": job.submitted_at,
            "state": JobState.PENDING.value,
            "reason": "submitted",
        }
    )


def record_array(
    runtime: Runtime, array: ArrayJob, new_items: list[int], resources: Resources, ids: list[str]
) -> None:
    """The row of an array (rewritten whole when a rerun adds a part) and its new items."""
    parts: list[dict[str, Any]] = [
        {
            "native_id": p.native_id,
            "job_dir": p.job_dir,
            "task_items": p.task_items,
            "pool": p.pool,
        }
        for p in array.parts
    ]
    ledger.record(
        {
            "id": array.id,
            "kind": "array",
            "profile": runtime.profile.name,
            "profile_json": _profile_json(runtime),
            "name": array.name,
            "native_id": ",".join(p["native_id"] for p in parts),
            "job_dir": parts[0]["job_dir"] if parts else "",
            "resources": resources.to_dict(),
            "after": ids,
            "size": array.size,
            "spec": {
                "parts": parts,
                "chunksize": array.chunksize,
                "plan": array.plan_record.to_dict(),
            },
            "submitted": array.submitted_at,
            "state": array.state.value,
            "reason": array.reason,
            "counts": array.counts(),
        }
    )
    ledger.record_items(array.id, sorted(new_items), JobState.PENDING.value)


class LedgerWriter:
    """Collects jobs whose state changed and writes them (and the arrays they belong to)
    in one transaction per poll, so a thousand transitions cost one commit."""

    def __init__(self, arrays: Mapping[str, ArrayJob]) -> None:
        self._arrays = arrays
        self._dirty: set[Job] = set()
        self._lock = threading.Lock()
        self._write = threading.Lock()  # one flush at a time: the newest state is written last

    def mark(self, job: Job) -> None:
        with self._lock:
            self._dirty.add(job)

    def flush(self) -> None:
        # Rows are built and written under one lock: otherwise a poll's flush that read a
        # job as RUNNING could write after the user's cancel wrote CANCELLED.
        with self._write:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        jobs_rows = []
        item_rows = []
        arrays: set[str] = set()
        for job in dirty:
            if job.array_id:
                arrays.add(job.array_id)
                row = (job.state.value, job.reason, job.started_at, job.ended_at)
                item_rows.append((*row, job.array_id, job.index))
            else:
                jobs_rows.append(
                    (job.state.value, job.reason, job.started_at, job.ended_at, "{}", job.id)
                )
        for array_id in arrays:
            array = self._arrays[array_id]
            started = [j.started_at for j in array.elements if j.started_at]
            ended = [j.ended_at for j in array.elements if j.ended_at]
            jobs_rows.append(
                (
                    array.state.value,
                    array.reason,
                    min(started) if started else None,
                    max(ended) if ended and array.state.finished else None,
                    json.dumps(array.counts()),
                    array.id,
                )
            )
        ledger.update_items(item_rows)
        ledger.update_jobs(jobs_rows)


# -- reattach -----------------------------------------------------------------------------
Fail = Callable[[Job, JobState, str], None]


def reattach(runtime: Runtime, rec: ledger.JobRecord, fail: Fail) -> Job | ArrayJob:
    """Rebuild a job or array of another process from its ledger row and watch it.

    ``fail`` settles a job that ended without a result to download (cancelled, timed out,
    lost), the same way collection does.
    """
    resources = parse_resources(rec.resources)
    if rec.cleaned:
        return _cleaned(runtime, rec, resources)
    if rec.kind == "job":
        job = Job(runtime, rec.id, rec.name, rec.native_id, rec.job_dir, resources, after=rec.after)
        _restore(job, rec.state, rec.reason, rec.submitted, rec.started, rec.ended, fail)
        live[rec.id] = job
        if not job.done():
            runtime.watcher.add(job, GONE if job.state == JobState.LOST else PRESENT)
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
                job = part.new_item(runtime, index, task, resources, rec.after)
                state, reason, started, ended = states.get(index, ("PENDING", "", None, None))
                _restore(job, state, reason, rec.submitted, started, ended, fail)
                if job.state == JobState.LOST:
                    part.missing[index] = GONE
                elements[index] = job  # later parts (reruns) replace earlier items
        array.parts.append(part)
    array.elements = [elements[i] for i in sorted(elements)]
    live[rec.id] = array
    runtime.arrays[rec.id] = array
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
    job._restore(JobState(rec.state), rec.reason, rec.submitted, rec.started, rec.ended)
    job._resolve(
        exception=JobError(
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
    job: Job,
    state: str,
    reason: str,
    submitted: float,
    started: float | None,
    ended: float | None,
    fail: Fail,
) -> None:
    job._restore(JobState(state), reason, submitted, started, ended)
    if job.state in (JobState.CANCELLED, JobState.TIMEOUT):
        fail(job, job.state, reason)  # nothing left to download
    # LOST is looked at once more: files that showed up late (NFS) revive the job.
