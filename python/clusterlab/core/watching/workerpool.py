"""Pool mode on the kernel side, in one place (``map(items, workers=K)``).

K array tasks are K Python workers that pull items from a queue in the job dir (the
runner's ``_Pool`` is the other half). Here: the files that queue is made of, the rules
that say what state an item is in when any worker may have run it, how a poll observes a
pool, and how single items are cancelled (``cancelled`` claims no worker will start).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...backends.base import Observation
from ...common import jobdir
from ...common.errors import ClusterlabError
from ...common.jobdir import StatusInfo, parse_status
from ...common.states import JobState
from ..model.settle import PRESENT, Absence, Decision, decide

if TYPE_CHECKING:
    from ...transports.base import Transport
    from ..model.array import ArrayPart
    from ..model.job import Job


def pool_files(shares: list[list[int]]) -> dict[str, bytes]:
    """The queue a pool's workers pull from: which items each worker's share holds
    (``items/W.pkl`` holds the calls), and empty dirs for claims and worker heartbeats."""
    manifest = {"version": 1, "shares": shares}
    return {
        jobdir.POOL: json.dumps(manifest).encode(),
        f"{jobdir.CLAIMS}/": b"",
        f"{jobdir.WORKERS}/": b"",
    }


# Cancelling pool items (job dir, then item indices): write ``cancelled`` claims so no
# worker starts them. noclobber (O_EXCL) leaves a claim a worker already holds alone.
CANCEL_CLAIMS = """
set -C
d=$1
shift
for i do
  (printf cancelled > "$d/claims/$i") 2>/dev/null
  (printf cancelled > "$d/claims/$i.retry") 2>/dev/null
done
exit 0
"""


def cancel_items(transport: Transport, jobs: Sequence[Job]) -> None:
    """Pool items are claimed ``cancelled`` so no worker starts them; one already running
    finishes on its worker (cancel the whole array to stop the workers)."""
    by_dir: dict[str, list[str]] = {}
    for job in jobs:
        by_dir.setdefault(job.job_dir, []).append(str(job.index))
    for job_dir, indices in by_dir.items():
        res = transport.script(CANCEL_CLAIMS, job_dir, *indices)
        if res.returncode != 0:
            raise ClusterlabError(f"could not cancel items in {job_dir}: {res.err.strip()}")


@dataclass
class Worker:
    """One pool worker as a poll saw it: the scheduler's view and its status file."""

    obs: Observation
    status: StatusInfo

    @property
    def alive(self) -> bool:
        return (
            self.obs.state in (JobState.PENDING, JobState.RUNNING)
            and self.status.finished is None
            and not self.status.stopped
        )


def pool_item_view(index: int, workers: dict[int, Worker]) -> tuple[int, StatusInfo] | None:
    """Which worker reported item ``index`` last: the one that finished it, else the
    latest attempt that started it; None if no worker took it yet."""
    started: tuple[int, StatusInfo] | None = None
    for w, worker in workers.items():
        item = worker.status.items.get(index)
        if item is None:
            continue
        if item.finished is not None:
            return w, item
        if started is None or (item.attempt, item.started or 0) > (
            started[1].attempt,
            started[1].started or 0,
        ):
            started = (w, item)
    return started


def decide_pool_item(
    current: JobState,
    index: int,
    workers: dict[int, Worker],
    absence: Absence,
    time_limit_s: int | None = None,
) -> Decision:
    """A pool item's state: any worker may run it, and a stopped worker's item waits for
    its retry as long as another worker is alive to take it."""
    view = pool_item_view(index, workers)
    anyone = any(w.alive for w in workers.values())
    if view is not None:
        w, item = view
        worker = workers[w]
        if item.finished is not None:
            return decide(current, worker.obs, item, absence, time_limit_s)
        if worker.alive:
            return decide(current, worker.obs, StatusInfo(item.started, worker.status.host))
        if anyone:
            again = " again" if item.attempt > 1 else ""
            return Decision(
                JobState.PENDING, f"its worker stopped{again}; an idle worker will retry it"
            )
        gone = decide(current, worker.obs, StatusInfo(), absence, time_limit_s)
        if gone.state == JobState.LOST:
            gone.reason = (
                "its worker stopped before it finished and no worker was left to retry it "
                "(see the workers' stderr)"
            )
        return gone
    if anyone:
        pending = [w for w in workers.values() if w.alive and w.obs.state == JobState.PENDING]
        if len(pending) == sum(w.alive for w in workers.values()):
            return Decision(JobState.PENDING, pending[0].obs.reason or "waiting for its workers")
        return Decision(JobState.PENDING, "queued: waiting for a free worker")
    for worker in workers.values():
        if worker.status.outcome in ("env_error", "no_python"):
            return decide(current, worker.obs, worker.status, absence, time_limit_s)
    ended = next((w.obs for w in workers.values() if w.obs.state is not None), Observation(None))
    if ended.state in (JobState.PENDING, JobState.RUNNING, JobState.COMPLETED):
        ended = Observation(None)
    gone = decide(current, ended, StatusInfo(), absence, time_limit_s)
    if gone.state == JobState.LOST:
        gone.reason = "no worker ran it: every worker of the pool ended (see their stderr)"
    return gone


Apply = Callable[["Job", Decision, str, str, int], bool]  # job, decision, outcome, sha256, size
"""What the watcher does with an item's decision (its outcome as the runner reported it,
and its result file's sha256); returns whether anything changed."""


def observe_pool(
    part: ArrayPart, obs: Observation, task_id: Callable[[str, int], str], apply: Apply
) -> bool:
    """Settle every unfinished item of a pool part from one poll's observation
    (``task_id`` is the backend's spelling of a worker's id)."""
    workers = {
        w: Worker(o, parse_status(o.status))
        for w, o in (
            (
                w,
                obs.tasks.get(
                    w,
                    Observation(
                        obs.state, obs.reason, cause=obs.cause, dir_missing=obs.dir_missing
                    ),
                ),
            )
            for w in range(len(part.task_items))
        )
    }
    changed = False
    for index, job in part.jobs.items():
        if job.done():
            continue
        view = pool_item_view(index, workers)
        if view is not None:
            w, item = view
            job.task, job.native_id = w, task_id(part.native_id, w)
            job.host = workers[w].status.host or job.host
            job.started_at = item.started
            job.ended_at = item.finished
            job.take_report(item)
        decision = decide_pool_item(
            job.state, index, workers, part.missing.get(index, PRESENT), job.resources.time_s
        )
        part.missing[index] = decision.absence
        outcome = view[1].outcome if view and view[1].finished else ""
        digest = view[1].digest if view and view[1].finished else ""
        size = view[1].size if view and view[1].finished else -1
        if not outcome and decision.state.finished:
            env = [w.status.outcome for w in workers.values()]
            outcome = next((o for o in env if o in (jobdir.ENV_ERROR, jobdir.NO_PYTHON)), "")
        changed |= apply(job, decision, outcome, digest, size)
    return changed
