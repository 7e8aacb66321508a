"""What the ``direct`` backend reads back from the host queue's files (pure, unit-tested).

The dispatcher (:mod:`clusterlab.remote.hostqueue`) writes, per job dir, ``qstate`` (a JSON line
when a task starts and when it ends) and ``qwait`` (why its next task waits); the client
writes ``queue.json`` and ``cancel``/``cancel.T`` markers. One poll reads them all (with the
runner's status files); this module turns them into :class:`Observation`\\ s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..common import jobdir
from ..common.processes import killed_by
from ..common.states import Cause, JobState
from ..remote import hostqueue
from .base import Observation, task_observations
from .statusdump import NO_DIR

QUEUED = "queued on the host, about to start"
AFTER = "waiting for the jobs it depends on"
THROTTLE = "waiting under the array's concurrency limit (%N): at most {limit} of its tasks at once"
SLOTS = "waiting for a free slot ({running} of {limit} running)"
STALE = (
    "the host queue's dispatcher is not running (it could not start, it was killed, or the "
    "host restarted): clusterlab starts it again; see <remote_dir>/queue/<host>/dispatcher.log "
    "if this persists"
)
CANCELLED = "cancelled by you"
NOT_STARTED = "cancelled by you before it started"
DEPENDENCY_FAILED = "dependency failed"  # core.model.settle's word: it names the job instead
UNKNOWN_DEPENDENCY = (
    "dependency failed: {dep} is not a job of this host queue (a job of another profile or "
    "remote_dir, or its job directory was deleted), so it can never succeed here"
)


def _json(data: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def pending(wait: Mapping[str, Any], running: int, stale: bool) -> Observation:
    """A task that has not started, and why, in words."""
    if stale:
        return Observation(JobState.PENDING, STALE, "queued (no dispatcher)")
    kind, limit = wait.get("wait"), wait.get("limit", "?")
    reason = {
        "after": AFTER,
        "throttle": THROTTLE.format(limit=limit),
        "slots": SLOTS.format(running=running, limit=limit),
    }.get(str(kind), QUEUED)
    return Observation(JobState.PENDING, reason, f"queued {kind or ''}".strip())


def ended(rec: Mapping[str, Any]) -> Observation:
    """A task the dispatcher saw end. A plain exit leaves the verdict to the status file
    (state None: "left the queue"); the rest is what only the queue knows."""
    code = rec.get("code")
    raw = f"ended {code}"
    if rec.get("cancelled"):
        reason = CANCELLED if code is not None else NOT_STARTED
        return Observation(JobState.CANCELLED, reason, raw, cause=Cause.CANCELLED)
    if rec.get("timeout"):
        return Observation(JobState.TIMEOUT, "", raw, cause=Cause.TIME_LIMIT)
    if rec.get("lost"):
        return Observation(JobState.LOST, str(rec["lost"]), raw)
    if rec.get("error"):
        return Observation(JobState.FAILED, str(rec["error"]), raw)
    if code == jobdir.PYTHON_COULD_NOT_WRITE:  # a full disk, most often
        return Observation(JobState.FAILED, jobdir.COULD_NOT_WRITE, raw)
    if isinstance(code, int) and code != 0:
        killed = code - 128 if 128 < code < 160 else 0
        how = killed_by(killed) if killed else f"exited with code {code}"
        return Observation(JobState.FAILED, how, raw)
    return Observation(None, "", raw)


def observe(
    files: Mapping[str, bytes],
    is_array: bool,
    running: int = 0,
    stale: bool = False,
    queued: bool = True,
) -> Observation:
    """One job's (or array's) observation from its job dir's files: ``queue.json``,
    ``qstate``, ``qwait``, ``cancel*`` and the runner's ``status*``. ``queued``: its
    entry is still in the spool. A job out of the spool whose task has no ``qstate`` line
    left the queue unrecorded (the dispatcher could not write: a full disk): its status
    file settles it, or it turns LOST after the grace, instead of waiting forever."""
    spec = _json(files.get(hostqueue.SPEC))
    last: dict[int, dict[str, Any]] = {}  # task -> its latest record
    whole: dict[str, Any] | None = None  # ends every task that never started
    for rec in hostqueue.records(files.get(hostqueue.STATE, b"")):
        task = rec.get("task")
        if task is None and rec.get("event") == "ended":
            whole = rec
        elif isinstance(task, int) and rec.get("event") in ("running", "ended"):
            last[task] = rec
    marked = {int(name[7:]) for name in files if name.startswith("cancel.") and name[7:].isdigit()}
    waiting = pending(_json(files.get(hostqueue.WAIT)), running, stale)

    def one(task: int) -> Observation:
        rec = last.get(task)
        cancelled = hostqueue.CANCEL in files or task in marked
        if rec is not None and rec["event"] == "ended":
            return ended(rec)
        if rec is not None:  # running; a cancel is being carried out
            if cancelled:
                return Observation(JobState.CANCELLED, CANCELLED, "running, cancelled")
            return Observation(JobState.RUNNING, "", "running")
        if whole is not None:
            if whole.get("dependency") and whole.get("known") is False:
                reason = UNKNOWN_DEPENDENCY.format(dep=whole["dependency"])
                return Observation(JobState.CANCELLED, reason, "dependency")
            if whole.get("dependency"):
                return Observation(JobState.CANCELLED, DEPENDENCY_FAILED, "dependency")
            return Observation(JobState.CANCELLED, NOT_STARTED, "cancelled")
        if cancelled:
            return Observation(JobState.CANCELLED, NOT_STARTED, "cancelled")
        return waiting if queued else Observation(None, "", "left the queue unrecorded")

    if is_array:
        count = int(spec.get("tasks") or 0)
        tasks = {i: one(i) for i in (range(count) if count else sorted(last))}
        obs = Observation(None, tasks=task_observations(files, tasks))
    else:
        obs = one(-1)
        obs.status = files.get("status")
    if NO_DIR in files:
        for seen in (obs, *obs.tasks.values()):
            seen.dir_missing = True
    return obs


def active(obs: Observation) -> bool:
    """Whether the queue still owes this job something (a task waits or runs)."""
    if obs.dir_missing:
        return False
    return any(o.state in (JobState.PENDING, JobState.RUNNING) for o in (obs, *obs.tasks.values()))
