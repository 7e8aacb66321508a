"""Deciding a job's state from the scheduler's view and the job's own status file.

Pure functions (no I/O) so every rule is unit-tested. The status file wins over the
scheduler: a job that left the queue is settled by it, never left "running" forever.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from ...backends.base import Observation
from ...common import jobdir
from ...common.jobdir import StatusInfo
from ...common.states import Cause, JobState
from ...config.resources import format_time

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
    Cause.EVICTED: (
        "evicted: its node ran short of memory or disk (pods using more than they requested "
        "go first) or was drained; submit it again, with a larger memory= if it recurs"
    ),
}
"""What users read for a job the scheduler ended for a reason the job itself did not see."""

MISSING_POLLS_BEFORE_LOST = 3
"""A job absent from the queue with no final status is LOST after at least this many polls
*and* :func:`lost_grace` seconds (network file systems show a finished job's files late)."""

LOST_GRACE_SECONDS = 60.0


def lost_grace() -> float:
    """Seconds a job may be missing (no queue entry, no final status) before it is LOST;
    ``CLUSTERLAB_LOST_GRACE`` overrides the default of 60 s."""
    try:
        return max(0.0, float(os.environ.get("CLUSTERLAB_LOST_GRACE", LOST_GRACE_SECONDS)))
    except ValueError:
        return LOST_GRACE_SECONDS


@dataclass(frozen=True)
class Absence:
    """How long a job has been missing: polls and since when (None: it is not missing)."""

    polls: int = 0
    since: float | None = None

    def again(self, now: float) -> Absence:
        return Absence(self.polls + 1, self.since if self.since is not None else now)

    def long_enough(self, now: float) -> bool:
        waited = now - (self.since if self.since is not None else now)
        return self.polls >= MISSING_POLLS_BEFORE_LOST and waited >= lost_grace()


PRESENT = Absence()
GONE = Absence(MISSING_POLLS_BEFORE_LOST, float("-inf"))
"""An absence already long enough: a reattached job last known LOST is settled by its
next poll (revived if its files turned up, LOST again at once if not)."""


@dataclass
class Decision:
    state: JobState
    reason: str
    absence: Absence = PRESENT
    cancel: bool = False  # the scheduler still holds it: cancel it there too


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code - 128).name if code > 128 else ""
    except ValueError:
        return f"signal {code - 128}"


def exit_decision(status: StatusInfo, time_limit_s: int | None) -> Decision:
    """The runner ended without reporting how (its job script recorded the exit code):
    killed at the time limit, for memory, by a signal, or its Python crashed."""
    code = status.exit_code if status.exit_code is not None else -1
    killed = _signal_name(code) or (f"SIG{status.exit_signal}" if status.exit_signal else "")
    elapsed = (status.exited or 0) - (status.started or status.exited or 0)
    if time_limit_s and (code == 124 or killed) and elapsed >= time_limit_s - 2:
        return Decision(
            JobState.TIMEOUT,
            f"killed after reaching its time limit ({format_time(time_limit_s)}): ask for "
            "more with time=...",
        )
    if killed == "SIGKILL":
        return Decision(
            JobState.FAILED,
            "killed with SIGKILL: most often for using more memory than it asked for (ask "
            "for more with memory=...), or by an administrator; see job.stderr()",
        )
    if killed in ("SIGTERM", "SIGINT"):
        return Decision(
            JobState.CANCELLED,
            f"stopped by {killed} (cancelled outside clusterlab, preempted, or its node "
            "shut down); submit it again if you still need it",
        )
    if killed:
        return Decision(JobState.FAILED, f"killed by {killed}; see job.stderr()")
    if code == jobdir.PYTHON_COULD_NOT_WRITE:
        return Decision(JobState.FAILED, jobdir.COULD_NOT_WRITE)
    return Decision(
        JobState.FAILED,
        f"its Python exited with code {code} without reporting a result; see job.stderr()",
    )


def decide(
    current: JobState,
    obs: Observation,
    status: StatusInfo,
    absence: Absence = PRESENT,
    time_limit_s: int | None = None,
    now: float | None = None,
) -> Decision:
    """The job's next state. Terminal states here are final (LOST only once it was missing
    long enough); the caller collects results."""
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
    if obs.dir_missing:
        return Decision(
            JobState.FAILED,
            "its job directory is gone (deleted by hand or cleaned up while it ran), and with "
            "it the job's result and logs; submit it again",
            cancel=obs.state in (JobState.PENDING, JobState.RUNNING),
        )
    if status.requeued and (requeued := _requeued(current, obs, status, absence, now)):
        return requeued
    if obs.cause == Cause.DEPENDENCY_NEVER_SATISFIED:
        # A scheduler may leave such a job pending forever: end it here, and there.
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
        if sentence is None and status.exited is not None:
            return exit_decision(status, time_limit_s)  # the exit line knows more
        return Decision(
            JobState.FAILED,
            sentence or obs.reason or f"the scheduler reports it failed ({obs.raw})",
        )
    if obs.state == JobState.LOST:  # the scheduler knows it is gone for good
        return Decision(JobState.LOST, obs.reason or "the scheduler lost it")
    if status.exited is not None:
        return exit_decision(status, time_limit_s)
    if obs.state is None or obs.state == JobState.COMPLETED:
        # Gone from the queue (or "completed" with no final status yet): give the file
        # system time to show the status file before calling the job lost.
        now = time.time() if now is None else now
        absence = absence.again(now)
        if absence.long_enough(now):
            return Decision(
                JobState.LOST,
                obs.reason
                or "the job left the queue without reporting a result (killed by the node or "
                "the system, or its job directory was removed); see job.stderr()",
                absence,
            )
        return Decision(current if not current.finished else JobState.PENDING, "", absence)
    state = obs.state
    if state == JobState.PENDING and status.started is not None:
        state = JobState.RUNNING
    reason = obs.reason if state == JobState.PENDING else ""
    if state == JobState.RUNNING and status.host:
        reason = f"running on {status.host}"
    return Decision(state, reason)


def _requeued(
    current: JobState, obs: Observation, status: StatusInfo, absence: Absence, now: float | None
) -> Decision | None:
    """A run that said it ends to run again (warned of its time limit and requeued, or
    preempted with requeue on) is not the job's end: while the scheduler still holds the
    job (pending again, or the run still stopping) it waits for its next run. None: the
    scheduler's own end (cancelled, failed, timed out) decides as for any job."""
    waiting = f"requeued ({status.requeued}): waiting to run again"
    if obs.state == JobState.RUNNING and status.exited is None:
        return Decision(JobState.RUNNING, f"{status.requeued}: stopping to be requeued")
    if obs.state in (JobState.PENDING, JobState.RUNNING) or obs.cause == Cause.PREEMPTED:
        return Decision(JobState.PENDING, waiting)
    if obs.state is None or obs.state == JobState.COMPLETED:
        # between two runs a scheduler may briefly not list it; never forever (LOST)
        now = time.time() if now is None else now
        absence = absence.again(now)
        if absence.long_enough(now):
            return Decision(
                JobState.LOST,
                f"it was to be requeued ({status.requeued}) but left the queue without "
                "running again; its last checkpoint is in its job dir: submit it again",
                absence,
            )
        return Decision(current if not current.finished else JobState.PENDING, waiting, absence)
    return None


def decide_item(
    current: JobState,
    index: int,
    task_obs: Observation,
    task: StatusInfo,
    absence: Absence = PRESENT,
    time_limit_s: int | None = None,
    now: float | None = None,
) -> Decision:
    """An array item's state from its task (scheduler view + ``status.N`` file)."""
    item = task.items.get(index)
    if item is not None and item.finished is not None:
        return decide(current, task_obs, item, absence, time_limit_s, now)
    if task.finished is not None:
        if task.outcome in ("env_error", "no_python"):
            return decide(current, task_obs, task, absence, time_limit_s, now)
        return Decision(JobState.FAILED, "its task ended before this item finished")
    if task.exited is not None:
        ended = exit_decision(task, time_limit_s)
        ended.reason = f"its task ended before this item finished: {ended.reason}"
        return ended
    mine = StatusInfo(started=item.started if item else None, host=task.host)
    decision = decide(current, task_obs, mine, absence, time_limit_s, now)
    if decision.state == JobState.RUNNING and mine.started is None:
        return Decision(JobState.PENDING, "waiting for earlier items of its task", absence)
    return decision
