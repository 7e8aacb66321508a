"""Deciding a job's state from the scheduler's view and the job's own status file.

Pure functions (no I/O) so every rule is unit-tested. The status file wins over the
scheduler: a job that left the queue is settled by it, never left "running" forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.base import Observation
from ..common.jobdir import StatusInfo
from ..common.states import Cause, JobState
from ..config.resources import format_time

DEPENDENCY_FAILED = "dependency failed"
"""The reason of a job cancelled because a job it waits for did not succeed; collection
replaces it with a sentence naming that job."""

CAUSE_SENTENCES: dict[Cause, str] = {
    Cause.OUT_OF_MEMORY: (
        "out of memory: it used more than its memory request; ask for more with memory=..."
    ),
    Cause.NODE_FAILURE: "the node it ran on failed: submit it again (ask your admins if it recurs)",
    Cause.PREEMPTED: (
        "preempted by a higher-priority job: submit it again, or use a partition or QOS "
        "without preemption"
    ),
}
"""What users read for a job the scheduler ended for a reason the job itself did not see."""

MISSING_POLLS_BEFORE_LOST = 3
"""A job absent from the queue with no final status is LOST after this many polls."""


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
    if obs.cause == Cause.DEPENDENCY_NEVER_SATISFIED:
        # Some schedulers (SLURM) leave such jobs pending forever; we end them ourselves.
        return Decision(JobState.CANCELLED, DEPENDENCY_FAILED, cancel=True)
    if obs.state == JobState.TIMEOUT or (obs.state and obs.cause == Cause.TIME_LIMIT):
        limit = f" ({format_time(time_limit_s)})" if time_limit_s else ""
        return Decision(
            JobState.TIMEOUT,
            f"killed after reaching its time limit{limit}: ask for more with time=...",
        )
    if obs.state == JobState.CANCELLED:
        return Decision(JobState.CANCELLED, obs.reason or "cancelled (by you or an administrator)")
    if obs.state == JobState.FAILED:
        sentence = CAUSE_SENTENCES.get(obs.cause) if obs.cause else None
        return Decision(
            JobState.FAILED,
            sentence or obs.reason or f"the scheduler reports it failed ({obs.raw})",
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
