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
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...common import jobdir
from ...common.errors import ClusterlabError, JobError, SubmitError
from ...common.processes import pid_alive
from ...common.states import JobState
from ...common.usage import Usage
from ...config.resources import Resources, parse_resources
from ..model.alive import live
from ..model.array import ArrayJob, ArrayPart
from ..model.job import Job
from ..model.plan import Plan
from ..model.settle import GONE, PRESENT
from ..transfer.staging import item_outputs, restore_run, run_record
from . import store as ledger

if TYPE_CHECKING:
    from ..runtime import Runtime


def _profile_json(runtime: Runtime) -> str:
    return json.dumps(runtime.profile.to_dict(), sort_keys=True)


# -- intent first: a row exists before the scheduler hears of the job ------------------------
def record_intent(runtime: Runtime, row: dict[str, Any]) -> None:
    """Write the job's row as SUBMITTING before it is submitted. If this kernel dies before
    the scheduler's answer is recorded, :func:`reconcile` finds the job by its job dir; if
    the ledger cannot be written (a full disk), nothing is submitted."""
    spec = {**row.get("spec", {}), "submitter": os.getpid()}
    intent = {
        **row,
        "profile": runtime.profile.name,
        "profile_json": _profile_json(runtime),
        "native_id": "",
        "spec": spec,
        "state": JobState.SUBMITTING.value,
        "reason": "being submitted",
    }
    try:
        ledger.record(intent)
    except sqlite3.Error as exc:
        raise SubmitError(
            f"could not record the job in the ledger {ledger.path()} ({exc}), so nothing was "
            "submitted: free disk space there (or set CLUSTERLAB_DATA_DIR) and submit again"
        ) from None


def record_refused(job_id: str, exc: BaseException) -> None:
    """The scheduler refused (or could not be reached): the intent row says so."""
    reason = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
    try:
        ledger.update_jobs(
            [(JobState.FAILED.value, f"not submitted: {reason}", None, time.time(), "{}", job_id)]
        )
    except sqlite3.Error as ledger_exc:  # the refusal itself is what the caller must see
        if sys.version_info >= (3, 11):
            exc.add_note(f"(the ledger could not record the refusal either: {ledger_exc})")


def record_jobs(runtime: Runtime, jobs: Sequence[Job]) -> None:
    """The rows of jobs the scheduler just accepted (replacing their intents), in one
    transaction."""
    ledger.record_many([_job_row(runtime, job) for job in jobs])


def _job_row(runtime: Runtime, job: Job) -> dict[str, Any]:
    return {
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
        # outputs=: a process that reattaches brings the files back too
        "spec": {"outputs": list(job.outputs)} if job.outputs else {},
    }


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
                "run": run_record(array),  # a rerun from another kernel runs the same
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

    def __init__(self, arrays: dict[str, ArrayJob]) -> None:
        self._arrays = arrays  # the runtime's unfinished arrays; a finished one leaves
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
        usage_rows: list[tuple[str, str]] = []
        item_usage: list[tuple[str, str, int]] = []
        arrays: set[str] = set()
        for job in dirty:
            used = ledger.usage_json(job.usage)
            if job.array_id:
                arrays.add(job.array_id)
                row = (job.state.value, job.reason, job.started_at, job.ended_at)
                item_rows.append((*row, job.array_id, job.index))
                if used:
                    item_usage.append((used, job.array_id, job.index))
            else:
                jobs_rows.append(
                    (job.state.value, job.reason, job.started_at, job.ended_at, "{}", job.id)
                )
                if used:
                    usage_rows.append((used, job.id))
        finished = []
        for array_id in arrays:
            array = self._arrays.get(array_id) or live.get(array_id)
            if not isinstance(array, ArrayJob):
                continue  # finished and dropped by everyone: its items' rows are written
            if array.state.finished:
                finished.append(array_id)
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
            if summary := ledger.usage_json(array.usage):
                usage_rows.append((summary, array.id))
        ledger.update_items(item_rows)
        ledger.update_jobs(jobs_rows)
        ledger.update_usage(usage_rows, item_usage)
        for array_id in finished:  # written: the runtime need not keep it (nor its results)
            self._arrays.pop(array_id, None)


# -- reconcile: intents whose kernel died ----------------------------------------------------
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
        used = rec.usage if isinstance(rec.usage, Usage) else None
        _restore(job, rec.state, rec.reason, rec.submitted, rec.started, rec.ended, fail, used)
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
