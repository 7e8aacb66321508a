"""The rows the engine writes to the ledger: a submission's intent before anything is
sent, the jobs and arrays it submitted, a refusal, and the state changes a poll writes
(one transaction per flush, :class:`LedgerWriter`). Rebuilding jobs from these rows is
:mod:`.reattach`'s job.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...common.errors import SubmitError
from ...common.states import JobState
from ...config.resources import Resources
from ..model.alive import live
from ..model.array import ArrayJob
from ..model.job import Job
from ..transfer.staging import run_record
from . import store as ledger

if TYPE_CHECKING:
    from ...config.profile import Profile


def _profile_json(profile: Profile) -> str:
    return json.dumps(profile.to_dict(), sort_keys=True)


# -- intent first: a row exists before the scheduler hears of the job ------------------------
def record_intent(profile: Profile, row: dict[str, Any]) -> None:
    """Write the job's row as SUBMITTING before it is submitted. If this kernel dies before
    the scheduler's answer is recorded, :func:`reconcile` finds the job by its job dir; if
    the ledger cannot be written (a full disk), nothing is submitted."""
    spec = {**row.get("spec", {}), "submitter": os.getpid()}
    intent = {
        **row,
        "profile": profile.name,
        "profile_json": _profile_json(profile),
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


def record_jobs(profile: Profile, jobs: Sequence[Job]) -> None:
    """The rows of jobs the scheduler just accepted (replacing their intents), in one
    transaction."""
    ledger.record_many([_job_row(profile, job) for job in jobs])


def _job_row(profile: Profile, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": "job",
        "profile": profile.name,
        "profile_json": _profile_json(profile),
        "name": job.name,
        "native_id": job.native_id,
        "job_dir": job.job_dir,
        "resources": job.resources.to_dict(),
        "after": job.after_ids,
        "submitted": job.submitted_at,
        "state": JobState.PENDING.value,
        "reason": "submitted",
        # outputs=: a process that reattaches brings the files back too; result_limit:
        # it finds the same result on the cluster (a RemoteResult) as this one did
        "spec": {
            **({"outputs": list(job.outputs)} if job.outputs else {}),
            **({"result_limit": job.result_limit} if job.result_limit is not None else {}),
        },
    }


def record_array(
    profile: Profile, array: ArrayJob, new_items: list[int], resources: Resources, ids: list[str]
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
            "profile": profile.name,
            "profile_json": _profile_json(profile),
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
        history_rows: list[tuple[str, str]] = []
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
                if job.attempts or job.max_attempts > 1:
                    runs = {"max": job.max_attempts, "runs": job.history}
                    history_rows.append((json.dumps(runs), job.id))
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
        if history_rows:
            ledger.update_history(history_rows)
        for array_id in finished:  # written: the runtime need not keep it (nor its results)
            self._arrays.pop(array_id, None)


# -- reconcile: intents whose kernel died ----------------------------------------------------
