"""``retries=N``: a job that failed for reasons outside its function (its node failed, it
was lost, killed by a signal nobody sent through clusterlab, its Python died without a
result) is submitted again by the watcher, after a doubling wait, as the same Job: same
id, same job dir (so ``cl.checkpoint`` carries over), a new scheduler id.

The function's own errors are the runner's business (``retry_on``, remote/attempts.py): it
reruns them in place, cheaper than a new submission. What needs the scheduler again is
here. Resubmission needs the job's spec, which this process keeps from its submission:
a job reattached by another kernel is not resubmitted (its failure stands, with the
sentence), nor a job submitted as an array item.

``requeue=True`` on a scheduler that stops jobs but cannot requeue them (Kubernetes: an
evicted or preempted pod gets SIGTERM and is deleted; ``requeues_by_resubmission``) is
done here too: a run whose runner noted that it stops to run again is submitted again,
up to ``max_requeues``, with that note ("preempted ...") as its cause.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ...common import jobdir
from ...common.jobdir import StatusInfo
from ...common.states import JobState
from ...config.attempts import AttemptPolicy, attempt_text
from ..ledger import records
from ..model.settle import Decision

if TYPE_CHECKING:
    from ...backends.base import JobSpec
    from ..model.job import Job
    from ..runtime import Runtime

RERUN_CAUSE = "rerun after: "
REQUEUE_CAUSE = "requeued after: "  # requeue=True where the scheduler deleted the run
_FUNCTION_SAID = (jobdir.OK, jobdir.ERROR, jobdir.ENV_ERROR, jobdir.NO_PYTHON)


def outside_failure(decision: Decision, outcome: str) -> bool:
    """Whether the job ended for a reason outside its function: lost, failed without the
    function reporting an outcome (node failure, a kill, a crashed Python), or stopped by
    a signal its job script saw (not a cancel through the scheduler, which is the user's)."""
    if decision.state == JobState.LOST:
        return True
    if decision.state == JobState.FAILED:
        return outcome not in _FUNCTION_SAID and not decision.reason.startswith("not submitted")
    return decision.state == JobState.CANCELLED and decision.reason.startswith("stopped by SIG")


@dataclass
class _Plan:
    spec: JobSpec
    policy: AttemptPolicy
    reruns: int = 0
    requeues: int = 0  # submitted again after a noted requeue (requeues_by_resubmission)
    floor: int = 0  # runs in the status file when it was last submitted
    causes: dict[int, str] = field(default_factory=dict)  # attempt -> why it was rerun
    waiting: bool = False  # between its failure and its new submission


class Retrier:
    """One runtime's reruns: which jobs may be submitted again, and doing it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def remember(self, job: Job, spec: JobSpec, policy: AttemptPolicy) -> None:
        """At submission: a job with ``retries`` (or ``requeue`` where the scheduler cannot
        requeue) may be submitted again with ``spec``."""
        backend = self.runtime.backend
        if (policy.retries and backend.can_resubmit()) or self._requeues(policy):
            self._plans[job.id] = _Plan(replace(spec), policy)

    def _requeues(self, policy: AttemptPolicy) -> bool:
        return policy.requeue and self.runtime.backend.requeues_by_resubmission()

    def stopped_to_requeue(
        self, job: Job, scheduler_state: JobState | None, status: StatusInfo
    ) -> bool:
        """Its run said it stops to run again and the scheduler no longer holds it, where
        the scheduler does not requeue (a deleted pod): it is to be submitted again now,
        not waited for as a scheduler's own requeue would be (settle's ``_requeued``)."""
        plan = self._plans.get(job.id)
        return (
            plan is not None
            and self._requeues(plan.policy)
            and bool(status.requeued)
            and scheduler_state not in (JobState.PENDING, JobState.RUNNING)
        )

    def waiting(self, job: Job) -> bool:
        """Between a failure and its new submission: nothing to decide about it."""
        plan = self._plans.get(job.id)
        return plan is not None and plan.waiting

    def current(self, job: Job, status: StatusInfo) -> StatusInfo:
        """The status file as it concerns the current submission: runs of an earlier one
        are history (with why they were rerun), not this run's end."""
        plan = self._plans.get(job.id)
        if plan is None or not plan.causes:
            return status
        runs = [dict(run) for run in status.runs]
        for run in runs:
            cause = plan.causes.get(int(str(run.get("attempt", 0))))
            if cause:
                run["cause"] = cause
        if len(status.runs) <= plan.floor:  # the new submission has not started yet
            return StatusInfo(runs=runs)
        return replace(status, runs=runs)

    def take(self, job: Job, decision: Decision, status: StatusInfo) -> bool:
        """If the job may run again after this end, schedule its new submission (True);
        False: the end stands."""
        plan = self._plans.get(job.id)
        if plan is None:
            return False
        outside = outside_failure(decision, status.outcome)
        # Where the scheduler deletes what it stops (a pod), the runner's note may be lost
        # with it: with requeue on, any end outside the function counts as a requeue.
        requeue = self._requeues(plan.policy) and (bool(status.requeued) or outside)
        if job.done() or not (requeue or outside):
            self._plans.pop(job.id, None)  # its end stands: nothing more to submit
            return False
        if requeue and plan.requeues < plan.policy.max_requeues:
            plan.requeues += 1
            cause = status.requeued or f"{REQUEUE_CAUSE}{decision.reason}"
            delay = 0.0  # stopped from outside: no backoff, as SLURM requeues at once
        elif plan.reruns < plan.policy.retries:
            plan.reruns += 1
            cause, delay = RERUN_CAUSE + decision.reason, plan.policy.delay(plan.reruns)
        else:
            self._plans.pop(job.id, None)
            return False
        plan.floor = len(status.runs)
        plan.causes[plan.floor or 1] = cause
        plan.waiting = True
        text = attempt_text(plan.floor + 1, job.max_attempts)
        job.set_state(
            JobState.PENDING, f"{text}: submitting again in {delay:g} s ({decision.reason})"
        )
        timer = threading.Timer(delay, self._resubmit, args=(job, plan, decision))
        timer.daemon = True
        timer.name = f"clusterlab-retry-{job.id}"
        timer.start()
        return True

    def _resubmit(self, job: Job, plan: _Plan, decision: Decision) -> None:
        runtime = self.runtime
        if job.done():  # cancelled while it waited
            plan.waiting = False
            return
        try:
            (outcome,) = runtime.backend.submit_many([(plan.spec, {})])
            if isinstance(outcome, BaseException):
                raise outcome
        except Exception as exc:
            plan.waiting = False
            runtime.collector.fail(
                job, decision.state, f"{decision.reason}; submitting it again failed: {exc}"
            )
            runtime.flush()
            return
        runtime.watcher.discard(job)  # its old scheduler id and what was seen of it
        job.native_id = outcome
        records.record_jobs(runtime.profile, [job])
        plan.waiting = False
        job.set_state(
            JobState.PENDING, f"{attempt_text(plan.floor + 1, job.max_attempts)}: submitted again"
        )
        runtime.mark_dirty(job)
        runtime.watcher.add(job)
        runtime.flush()
