"""Deciding a job's state from the scheduler's view and the job's own status file.

Pure functions (no I/O) so every rule is unit-tested. The status file wins over the
scheduler: a job that left the queue is settled by it, never left "running" forever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..backends.base import Observation
from ..common.states import JobState
from ..config.resources import format_time

MISSING_POLLS_BEFORE_LOST = 3
"""A job absent from the queue with no final status is LOST after this many polls."""


@dataclass
class StatusInfo:
    """What the runner wrote: when it started, where, and how it finished."""

    started: float | None = None
    host: str = ""
    pid: int = 0
    finished: float | None = None
    outcome: str = ""  # ok | error | env_error | no_python
    message: str = ""
    items: dict[int, StatusInfo] = field(default_factory=dict)  # array tasks: per item
    attempt: int = 1  # pool items: 2 when this is the retry
    stopped: bool = False  # a pool worker that was killed (it said so on SIGTERM)


def parse_status(data: bytes | None) -> StatusInfo:
    """Read the runner's JSON lines; a torn last line (being written) is ignored."""
    info = StatusInfo()
    for line in (data or b"").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = record.get("event")
        if event == "started":
            info.started = record.get("time")
            info.host = record.get("host", "")
            info.pid = int(record.get("pid", 0))
        elif event == "finished":
            info.finished = record.get("time", 0.0)
            info.outcome = record.get("outcome", "")
            info.message = record.get("message", "")
        elif event == "stopped":
            info.stopped = True
        elif event in ("item-started", "item-finished"):
            item = info.items.setdefault(int(record.get("index", -1)), StatusInfo(host=info.host))
            if event == "item-started":
                item.started = record.get("time")
                item.attempt = int(record.get("attempt", 1))
            else:
                item.finished = record.get("time", 0.0)
                item.outcome = record.get("outcome", "")
    return info


@dataclass
class Decision:
    state: JobState
    reason: str
    missing_polls: int = 0
    cancel: bool = False  # the scheduler still holds it: cancel it there too


def decide(
    current: JobState,
    obs: Observation,
    status: StatusInfo,
    missing_polls: int,
    time_limit_s: int | None = None,
) -> Decision:
    """The job's next state. Terminal states here are final; the caller collects results."""
    if status.finished is not None:
        if status.outcome == "ok":
            return Decision(JobState.COMPLETED, "")
        if status.outcome == "env_error" and status.message:
            return Decision(JobState.FAILED, status.message)
        if status.outcome == "no_python":
            return Decision(
                JobState.FAILED,
                "the profile's python command was not found where the job ran: set the "
                "profile's python to an interpreter that exists there (with cloudpickle)",
            )
        return Decision(JobState.FAILED, "")  # the result file says why
    if obs.raw.endswith("DependencyNeverSatisfied"):
        # SLURM leaves such jobs pending forever; we end them ourselves.
        return Decision(JobState.CANCELLED, "dependency failed", cancel=True)
    if obs.state == JobState.TIMEOUT:
        limit = f" ({format_time(time_limit_s)})" if time_limit_s else ""
        return Decision(
            JobState.TIMEOUT,
            f"killed after reaching its time limit{limit}: ask for more with time=...",
        )
    if obs.state == JobState.CANCELLED:
        return Decision(JobState.CANCELLED, obs.reason or "cancelled (by you or an administrator)")
    if obs.state == JobState.FAILED:
        if "OUT_OF_MEMORY" in obs.raw or "OutOfMemory" in obs.raw:
            return Decision(
                JobState.FAILED,
                "out of memory: it used more than its memory request; ask for more with memory=...",
            )
        return Decision(
            JobState.FAILED, obs.reason or f"the scheduler reports it failed ({obs.raw})"
        )
    if obs.state is None or obs.state == JobState.COMPLETED:
        # Gone from the queue (or "completed" with no final status yet): give the file
        # system a few polls to show the status file before calling the job lost.
        missing_polls += 1
        if missing_polls >= MISSING_POLLS_BEFORE_LOST:
            return Decision(
                JobState.LOST,
                obs.reason
                or "the job left the queue without reporting a result (killed by the node or "
                "the system, or its job directory was removed); see job.stderr()",
                missing_polls,
            )
        return Decision(current, "", missing_polls)
    state = obs.state
    if state == JobState.PENDING and status.started is not None:
        state = JobState.RUNNING
    reason = obs.reason if state == JobState.PENDING else ""
    if state == JobState.RUNNING and status.host:
        reason = f"running on {status.host}"
    return Decision(state, reason)


def decide_item(
    current: JobState,
    index: int,
    task_obs: Observation,
    task: StatusInfo,
    missing_polls: int,
    time_limit_s: int | None = None,
) -> Decision:
    """An array item's state from its task (scheduler view + ``status.N`` file)."""
    item = task.items.get(index)
    if item is not None and item.finished is not None:
        return decide(current, task_obs, item, missing_polls, time_limit_s)
    if task.finished is not None:
        if task.outcome in ("env_error", "no_python"):
            return decide(current, task_obs, task, missing_polls, time_limit_s)
        return Decision(JobState.FAILED, "its task ended before this item finished")
    mine = StatusInfo(started=item.started if item else None, host=task.host)
    decision = decide(current, task_obs, mine, missing_polls, time_limit_s)
    if decision.state == JobState.RUNNING and mine.started is None:
        return Decision(JobState.PENDING, "waiting for earlier items of its task", missing_polls)
    return decision


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
    missing_polls: int,
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
            return decide(current, worker.obs, item, missing_polls, time_limit_s)
        if worker.alive:
            return decide(current, worker.obs, StatusInfo(item.started, worker.status.host), 0)
        if anyone:
            again = " again" if item.attempt > 1 else ""
            return Decision(
                JobState.PENDING, f"its worker stopped{again}; an idle worker will retry it"
            )
        gone = decide(current, worker.obs, StatusInfo(), missing_polls, time_limit_s)
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
            return decide(current, worker.obs, worker.status, missing_polls, time_limit_s)
    ended = next((w.obs for w in workers.values() if w.obs.state is not None), Observation(None))
    if ended.state in (JobState.PENDING, JobState.RUNNING, JobState.COMPLETED):
        ended = Observation(None)
    gone = decide(current, ended, StatusInfo(), missing_polls, time_limit_s)
    if gone.state == JobState.LOST:
        gone.reason = "no worker ran it: every worker of the pool ended (see their stderr)"
    return gone
