"""``retries=N``: a job that failed for reasons outside its function (its node failed, it
was lost, killed by a signal nobody sent through clusterlab, its Python died without a
result) is submitted again by the watcher, after a doubling wait, as the same Job: same
id, same job dir (so ``cl.checkpoint`` carries over), a new scheduler id.

The function's own errors are the runner's business (``retry_on``, remote/attempts.py): it
reruns them in place, cheaper than a new submission. What needs the scheduler again is
here. Resubmission needs the job's spec: the submitting kernel keeps it, and also saves it
beside the ledger (:mod:`.plans`), so a kernel that reattached to the job (after a
restart) submits it again just the same. Of several processes that saw the same end, one
submits (:func:`.plans.claim`) and the others take the new scheduler id from the ledger.
A job submitted as an array item is not resubmitted.

``requeue=True`` on a scheduler that stops jobs but cannot requeue them (Kubernetes: an
evicted or preempted pod gets SIGTERM and is deleted; ``requeues_by_resubmission``) is
done here too: a run whose runner noted that it stops to run again is submitted again,
up to ``max_requeues``, with that note ("preempted ...") as its cause.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

from ...common import jobdir
from ...common.jobdir import StatusInfo
from ...common.states import JobState
from ...config.attempts import AttemptPolicy, attempt_text
from ..ledger import records
from ..ledger import store as ledger
from ..model.settle import Decision
from . import plans
from .plans import Plan

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


REFUSED_AGAIN = "submitting it again failed"
ADOPT_WAIT_S = 120.0
"""How long a process that lost the claim waits for the winner's new scheduler id in the
ledger (after the backoff both know) before it says the job was not submitted again."""


class Retrier:
    """One runtime's reruns: which jobs may be submitted again, and doing it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._plans: dict[str, Plan] = {}
        self._looked: set[str] = set()  # ids whose saved plan was looked for
        self._lock = threading.Lock()

    def _eligible(self, policy: AttemptPolicy) -> bool:
        return bool(policy.retries and self.runtime.backend.can_resubmit()) or self._requeues(
            policy
        )

    def remember(self, job: Job, spec: JobSpec, policy: AttemptPolicy) -> None:
        """At submission: a job with ``retries`` (or ``requeue`` where the scheduler cannot
        requeue) may be submitted again with ``spec``; saved beside the ledger so that a
        kernel that reattaches to it can do so too."""
        if not self._eligible(policy):
            return
        plan = Plan(replace(spec), policy)
        self._plans[job.id] = plan
        self._looked.add(job.id)
        self._save(job, plan)

    def _save(self, job: Job, plan: Plan) -> None:
        try:
            plans.save(job.id, plan)
        except OSError as exc:  # this kernel still can; say what a restart would lose
            warnings.warn(
                f"clusterlab: job {job.id} can be submitted again (retries=/requeue=) only "
                f"from this kernel: saving what that needs failed ({exc}); free disk space "
                "in clusterlab's data dir (or set CLUSTERLAB_DATA_DIR)",
                stacklevel=2,
            )

    def _plan(self, job: Job) -> Plan | None:
        """This process's plan for the job, or the one its submitting kernel saved (a
        reattached job), looked for once."""
        plan = self._plans.get(job.id)
        if plan is not None or job.id in self._looked:
            return plan
        self._looked.add(job.id)
        return self._load(job)

    def _load(self, job: Job) -> Plan | None:
        """The saved plan (its counts as another process may have moved them on), kept
        as this process's; None when there is none."""
        mine = self._plans.get(job.id)
        try:
            saved = plans.load(job.id)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(
                f"clusterlab: what submitting job {job.id} again needs could not be read "
                f"({type(exc).__name__}: {exc}); "
                + ("this kernel's own copy is used" if mine else "its end will stand"),
                stacklevel=2,
            )
            saved = None
        if saved is None or not self._eligible(saved.policy):
            return mine  # this process's own (its file could not be written), or none
        if mine is not None:
            saved.waiting = mine.waiting
        self._plans[job.id] = saved
        return saved

    def _forget(self, job: Job) -> None:
        self._plans.pop(job.id, None)
        plans.drop(job.id)

    def _requeues(self, policy: AttemptPolicy) -> bool:
        return policy.requeue and self.runtime.backend.requeues_by_resubmission()

    def stopped_to_requeue(
        self, job: Job, scheduler_state: JobState | None, status: StatusInfo
    ) -> bool:
        """Its run said it stops to run again and the scheduler no longer holds it, where
        the scheduler does not requeue (a deleted pod): it is to be submitted again now,
        not waited for as a scheduler's own requeue would be (settle's ``_requeued``)."""
        plan = self._plan(job)
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
        plan = self._plan(job)
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
        if self._plan(job) is None:
            return False
        plan = self._load(job)  # another process may have submitted it again meanwhile
        if plan is None:
            return False
        outside = outside_failure(decision, status.outcome)
        # Where the scheduler deletes what it stops (a pod), the runner's note may be lost
        # with it: with requeue on, any end outside the function counts as a requeue.
        requeue = self._requeues(plan.policy) and (bool(status.requeued) or outside)
        if job.done() or not (requeue or outside):
            self._forget(job)  # its end stands: nothing more to submit
            return False
        if requeue and plan.requeues < plan.policy.max_requeues:
            plan.requeues += 1
            cause = status.requeued or f"{REQUEUE_CAUSE}{decision.reason}"
            delay = 0.0  # stopped from outside: no backoff, as SLURM requeues at once
        elif plan.reruns < plan.policy.retries:
            plan.reruns += 1
            cause, delay = RERUN_CAUSE + decision.reason, plan.policy.delay(plan.reruns)
        else:
            self._forget(job)
            return False
        plan.floor = len(status.runs)
        plan.causes[plan.floor or 1] = cause
        plan.waiting = True
        text = attempt_text(plan.floor + 1, job.max_attempts)
        ended = job.native_id
        if not plans.claim(job.id, ended):  # another process that saw this end submits it
            job.set_state(JobState.PENDING, f"{text}: being submitted again ({decision.reason})")
            thread = threading.Thread(
                target=self._adopt,
                args=(job, ended, delay + ADOPT_WAIT_S, decision),
                name=f"clusterlab-retry-{job.id}",
                daemon=True,
            )
            thread.start()
            return True
        self._save(job, plan)
        job.set_state(
            JobState.PENDING, f"{text}: submitting again in {delay:g} s ({decision.reason})"
        )
        timer = threading.Timer(delay, self._resubmit, args=(job, plan, decision))
        timer.daemon = True
        timer.name = f"clusterlab-retry-{job.id}"
        timer.start()
        return True

    def _adopt(self, job: Job, ended: str, wait: float, decision: Decision) -> None:
        """Wait for the process that won the claim to record the new scheduler id in the
        ledger, then watch the job under it."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not job.done():
            rec = ledger.retry(lambda: ledger.get(job.id))
            if rec is not None and rec.native_id and rec.native_id != ended:
                self._load(job)
                self._watch_again(job, rec.native_id, "submitted again by another process")
                return
            if rec is not None and REFUSED_AGAIN in rec.reason:
                break  # the winner's new submission was refused: its sentence below
            time.sleep(0.5)
        plan = self._plans.get(job.id)
        if plan is not None:
            plan.waiting = False
        if job.done():
            return
        rec = ledger.retry(lambda: ledger.get(job.id))
        said = rec.reason if rec is not None and REFUSED_AGAIN in rec.reason else ""
        self.runtime.collector.fail(
            job,
            decision.state,
            said
            or f"{decision.reason}; another process was to submit it again, but its new "
            f"scheduler id did not reach the ledger within {wait:g} s",
        )
        self.runtime.flush()

    def _watch_again(self, job: Job, native_id: str, how: str) -> None:
        runtime = self.runtime
        runtime.watcher.discard(job)  # its old scheduler id and what was seen of it
        job.native_id = native_id
        plan = self._plans.get(job.id)
        if plan is not None:
            plan.waiting = False
        job.set_state(JobState.PENDING, f"{attempt_text(self._runs(job), job.max_attempts)}: {how}")
        runtime.mark_dirty(job)
        runtime.watcher.add(job)
        runtime.flush()

    def _runs(self, job: Job) -> int:
        plan = self._plans.get(job.id)
        return (plan.floor if plan is not None else 0) + 1

    def _resubmit(self, job: Job, plan: Plan, decision: Decision) -> None:
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
                job, decision.state, f"{decision.reason}; {REFUSED_AGAIN}: {exc}"
            )
            runtime.flush()
            return
        runtime.watcher.discard(job)
        job.native_id = outcome
        records.record_jobs(runtime.profile, [job])
        self._watch_again(job, outcome, "submitted again")
