"""Reattaching: a job or an array of another process (or of this kernel before a
restart) rebuilt from its ledger row and watched again.

Finished jobs are polled once on reattach too: their status files settle them and their
results are downloaded on that poll, so ``.result()`` works after a kernel restart. A job
last known LOST is polled once more and revived if its files showed up since. A job
whose files were cleaned up keeps its state but says plainly that its result is gone.
A row left SUBMITTING by a process that died is settled first (:func:`reconcile`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...common import jobdir
from ...common.errors import ClusterlabError, JobError
from ...common.processes import pid_alive
from ...common.states import JobState
from ...common.usage import Usage
from ...config.resources import Resources, parse_resources
from ..model.alive import live
from ..model.array import ArrayJob, ArrayPart
from ..model.job import Job
from ..model.plan import Plan
from ..model.settle import GONE, PRESENT
from ..transfer.staging import item_outputs, restore_run
from . import store as ledger

if TYPE_CHECKING:
    from ..runtime import Runtime


def reconcile(runtime: Runtime, rec: ledger.JobRecord) -> ledger.JobRecord:
    """Settle a SUBMITTING row whose submitting process is gone: submitted after all (its
    job dir holds the scheduler's answer) becomes a watched job; never submitted is FAILED
    with a sentence. A row still being submitted by a live process is left alone."""
    if rec.state != JobState.SUBMITTING.value or pid_alive(rec.spec.get("submitter")):
        return rec
    parts = rec.spec.get("parts") if rec.kind == "array" else [{"job_dir": rec.job_dir}]
    answers = runtime.transport.read_files(
        [f"{p['job_dir']}/{jobdir.SUBMITTED}" for p in parts or []]
    )
    found = []
    for part in parts or []:
        answer = answers.get(f"{part['job_dir']}/{jobdir.SUBMITTED}")
        if answer:
            found.append({**part, "native_id": runtime.backend.parse_submit(answer.decode())})
    if not found:
        reason = "its kernel stopped before the scheduler accepted it: nothing ran; submit it again"
        ledger.update_jobs([(JobState.FAILED.value, reason, None, time.time(), "{}", rec.id)])
        return ledger.get(rec.id) or rec
    row: dict[str, Any] = {
        "id": rec.id,
        "kind": rec.kind,
        "profile": rec.profile,
        "profile_json": rec.profile_json,
        "name": rec.name,
        "native_id": ",".join(p["native_id"] for p in found),
        "job_dir": found[0]["job_dir"],
        "resources": rec.resources,
        "after": rec.after,
        "size": rec.size,
        "spec": {**rec.spec, "parts": found} if rec.kind == "array" else {},
        "submitted": rec.submitted,
        "state": JobState.PENDING.value,
        "reason": "submitted (found after its kernel stopped)",
    }
    ledger.record(row)
    if rec.kind == "array":
        items = sorted(i for p in found for task in p["task_items"] for i in task)
        ledger.record_items(rec.id, items, JobState.PENDING.value)
    return ledger.get(rec.id) or rec


# -- reattach -----------------------------------------------------------------------------
Fail = Callable[[Job, JobState, str], None]
_SETTLE_AT_ONCE = (JobState.LOST, JobState.FAILED)
"""Restored states whose job, if its files show no final line, is settled by the first poll
(no grace): nothing more will come, and a FAILED one keeps its recorded reason."""


def reattach(runtime: Runtime, rec: ledger.JobRecord, fail: Fail) -> Job | ArrayJob:
    """Rebuild a job or array of another process from its ledger row and watch it.

    ``fail`` settles a job that ended without a result to download (cancelled, timed out,
    lost), the same way collection does.
    """
    resources = parse_resources(rec.resources)
    if rec.cleaned:
        return _cleaned(runtime, rec, resources)
    if not rec.native_id and rec.state != JobState.SUBMITTING.value:  # never submitted
        if rec.kind == "array":
            raise ClusterlabError(f"array {rec.id} ({rec.name}) was never submitted: {rec.reason}")
        job = Job(runtime, rec.id, rec.name, "", rec.job_dir, resources, after=rec.after)
        job.restore(JobState(rec.state), rec.reason, rec.submitted, rec.started, rec.ended)
        fail(job, job.state, rec.reason)
        live[rec.id] = job
        return job
    if rec.kind == "job":
        job = Job(runtime, rec.id, rec.name, rec.native_id, rec.job_dir, resources, after=rec.after)
        if rec.spec.get("outputs"):
            workdir, patterns, dest = rec.spec["outputs"]
            job.outputs = (workdir, list(patterns), dest)
        limit = rec.spec.get("result_limit")
        job.result_limit = limit if isinstance(limit, int) else None
        used = rec.usage if isinstance(rec.usage, Usage) else None
        _restore(job, rec.state, rec.reason, rec.submitted, rec.started, rec.ended, fail, used)
        job.restore_history(list(rec.history.get("runs") or []), int(rec.history.get("max") or 1))
        live[rec.id] = job
        if not job.done():
            runtime.watcher.add(job, GONE if job.state in _SETTLE_AT_ONCE else PRESENT)
        return job
    tasks = sum(len(p["task_items"]) for p in rec.spec.get("parts", []))
    chunksize = int(rec.spec.get("chunksize", 1))
    plan = rec.spec.get("plan") or {"items": rec.size, "tasks": tasks, "chunksize": chunksize}
    array = ArrayJob(runtime, rec.id, rec.name, rec.size, Plan(**plan))
    array.submitted_at = rec.submitted
    restore_run(array, rec.spec.get("run") or {})
    states = {row[0]: row[1:] for row in ledger.items(rec.id)}
    elements: dict[int, Job] = {}
    for p in rec.spec.get("parts", []):
        part = ArrayPart(
            array, p["native_id"], p["job_dir"], p["task_items"], pool=bool(p.get("pool"))
        )
        for task, indices in enumerate(part.task_items):
            for index in indices:
                job = part.new_item(runtime, index, task, resources, rec.after)
                if array.staged is not None:
                    job.outputs = item_outputs(array.staged, part.job_dir, array.id, index)
                    job.result_limit = array.staged.options.result_limit
                state, reason, started, ended, used = states.get(
                    index, ("PENDING", "", None, None, None)
                )
                _restore(job, state, reason, rec.submitted, started, ended, fail, used)
                if job.state in _SETTLE_AT_ONCE:
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
    used = rec.usage if isinstance(rec.usage, Usage) else None
    job.restore(JobState(rec.state), rec.reason, rec.submitted, rec.started, rec.ended, used)
    job.resolve(
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
    usage: Usage | None = None,
) -> None:
    job.restore(JobState(state), reason, submitted, started, ended, usage)
    if job.state in (JobState.CANCELLED, JobState.TIMEOUT):
        fail(job, job.state, reason)  # nothing left to download
    # LOST is looked at once more: files that showed up late (NFS) revive the job.
