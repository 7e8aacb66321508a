"""Submission that never waits: ``submit()`` hands its job to one thread per runtime.

``submit()`` pickles the call on the caller's thread (an unpicklable argument still raises
there, at once, before anything is sent), writes the job's ledger row as SUBMITTING and
returns the :class:`Job`. This module's thread collects the jobs submitted within a few
milliseconds of each other (it waits while more keep coming, up to :data:`MAX_WAIT`) and
stages and submits them together: :meth:`Backend.submit_many` sends every job dir in one
round trip and runs one submit command per job (``sbatch`` on SLURM) in one remote script.

Why one command per job rather than one native array for calls that are alike: each job
stays an ordinary job (its own id, its own ``cancel()``, ``cleanup()``, ledger row and
reattach) with no new bookkeeping, and the cost that made ``submit()`` slow, a staging
round trip and a scheduler call the caller waited for, is gone from the caller. What is
left is the scheduler's own cost per submit command, paid on this thread.

What can go wrong reaches the Job: a refused or unreachable submission makes it FAILED with
``not submitted: <sentence>`` and ``job.result()`` raises the same SubmitError that
``submit()`` raised before. A job that depends on one still SUBMITTING is submitted after
it, with its native id (jobs are taken in order, and a batch is cut before a job whose
dependency is in it). ``cancel()`` of a SUBMITTING job drops it before submission, or
cancels it right after. At interpreter exit, what is queued is submitted (for at most
:data:`EXIT_WAIT` seconds), and whatever could not be is marked FAILED with a sentence.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...backends.base import JobSpec, WatchTarget
from ...common.errors import ClusterlabError
from ...common.states import JobState
from ..ledger import records
from ..model.dependencies import Dependencies
from ..model.job import Job
from ..transfer.staging import Staged

if TYPE_CHECKING:
    from ..runtime import Runtime

WINDOW = 0.003  # seconds without a new submission that close a batch
MAX_WAIT = 0.1  # longest a batch waits for more submissions
MAX_BATCH = 500  # jobs per round trip
EXIT_WAIT = 60.0  # seconds the interpreter's exit waits for queued submissions
SUBMITTING_REASON = "being submitted"
SLOW_AFTER = 5.0  # seconds of submission after which a job says why it is still waiting
SLOW_REASON = (
    "being submitted: no answer from the cluster after {seconds:g} s (its scheduler may be "
    "busy or its queue full, and the submit command keeps retrying for up to minutes; or the "
    "connection is slow): it is accepted or fails with the scheduler's words"
)
EXIT_REASON = (
    "not submitted: the Python process exited before the scheduler accepted it; nothing "
    "ran: submit it again"
)


@dataclass
class Pending:
    """A job accepted by ``submit()``: what the thread needs to submit it."""

    job: Job
    spec: JobSpec  # ``after`` is filled in by the thread once the dependencies have ids
    files: Mapping[str, bytes]
    blobs: Mapping[str, bytes]
    staged: Staged
    deps: Dependencies


class Batcher:
    """One runtime's submission thread and its queue."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._busy = False  # a batch is being submitted
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches sent (each one staging round trip)
        self._at_exit = False

    # -- what submit() and cancel() call ------------------------------------------------------
    def put(self, pending: Pending) -> None:
        """Queue a job (already SUBMITTING, its row written); the thread submits it soon."""
        with self._cond:
            self._queue.append(pending)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run,
                    name=f"clusterlab-submit-{self.runtime.profile.name}",
                    daemon=True,
                )
                self._thread.start()
                if not self._at_exit:
                    atexit.register(self.drain, EXIT_WAIT)
                    self._at_exit = True
            self._cond.notify_all()

    def cancel(self, job: Job) -> bool:
        """Cancel a SUBMITTING job: dropped if still queued; if its submission is under way,
        it is cancelled on the scheduler as soon as its native id is known. False when it
        is no longer SUBMITTING (cancel it as any submitted job)."""
        with self._cond:
            if job.state != JobState.SUBMITTING:
                return False
            for pending in self._queue:
                if pending.job is job:
                    self._queue.remove(pending)
                    break
            job.set_state(JobState.CANCELLED, "cancelled by you")
            job.cancel_future()
        self.runtime.flush()
        return True

    def idle(self) -> bool:
        """Whether nothing is queued or being submitted."""
        with self._cond:
            return not self._queue and not self._busy

    def wait_idle(self, timeout: float = EXIT_WAIT) -> bool:
        """Wait until what was queued before now is submitted, so a ``map()`` (submitted on
        the caller's thread) reaches the scheduler after the ``submit()`` calls made before
        it, as the user wrote them (a FIFO queue such as the local one runs them in that
        order). Returns whether the queue emptied in time; nothing is refused here."""
        if threading.current_thread() is self._thread:
            return self.idle()
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._queue or self._busy) and time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    break
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            return not self._queue and not self._busy

    def drain(self, timeout: float = EXIT_WAIT) -> bool:
        """Wait until everything queued was submitted; at the deadline, mark what is left
        FAILED (at exit nothing may stay SUBMITTING). Returns whether the queue emptied."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._queue or self._busy) and time.monotonic() < deadline:
                alive = self._thread is not None and self._thread.is_alive()
                if not alive:
                    break
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            left = list(self._queue)
            self._queue.clear()
        for pending in left:
            self._refuse(pending, ClusterlabError(EXIT_REASON.removeprefix("not submitted: ")))
        if left:
            self.runtime.flush()
        return not left

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
            self._linger()
            with self._cond:
                batch = self._take()
                self._busy = True
            # sbatch retries on its own for up to 2 minutes when slurmctld is busy or its
            # queue is full: the jobs then say so rather than "being submitted" throughout.
            slow = threading.Timer(SLOW_AFTER, self._still_submitting, [batch])
            slow.daemon = True
            slow.start()
            try:
                self._submit(batch)
            except BaseException as exc:  # never leave a job SUBMITTING
                for pending in batch:
                    if pending.job.state == JobState.SUBMITTING:
                        self._refuse(pending, exc)
            finally:
                slow.cancel()
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                self.runtime.flush()

    def _still_submitting(self, batch: list[Pending]) -> None:
        """The jobs of a batch whose submission outlasted SLOW_AFTER: say why they wait
        (under the lock that accepting them takes, so none goes back to SUBMITTING)."""
        reason = SLOW_REASON.format(seconds=SLOW_AFTER)
        with self._cond:
            waiting = [p.job for p in batch if p.job.state == JobState.SUBMITTING]
            for job in waiting:
                job.set_state(JobState.SUBMITTING, reason)
        if waiting:
            self.runtime.flush()

    def _linger(self) -> None:
        """Wait while submissions keep coming (a loop of ``submit()``), within MAX_WAIT."""
        start, seen = time.monotonic(), -1
        while time.monotonic() - start < MAX_WAIT:
            with self._cond:
                count = len(self._queue)
            if count == seen or count >= MAX_BATCH:
                return
            seen = count
            time.sleep(WINDOW)

    def _take(self) -> list[Pending]:
        """The next batch, in order, cut before a job that waits for one in the batch."""
        batch: list[Pending] = []
        ids: set[str] = set()
        while self._queue and len(batch) < MAX_BATCH:
            nxt = self._queue[0]
            if any(dep.id in ids for dep in nxt.deps.unsettled()):
                break
            batch.append(self._queue.popleft())
            ids.add(nxt.job.id)
        return batch

    def _submit(self, batch: list[Pending]) -> None:
        runtime = self.runtime
        ready: list[Pending] = []
        for pending in batch:
            if pending.job.done():  # cancelled while queued
                continue
            pending.deps.wait_for_ids()  # only another runtime's job can still be waited for
            try:
                pending.spec.after = pending.deps.natives
            except ClusterlabError as exc:  # a dependency was never submitted
                self._refuse(pending, exc)
                continue
            ready.append(pending)
        if not ready:
            return
        try:
            blobs: dict[str, bytes] = {}
            for pending in ready:
                blobs.update(pending.blobs)
            runtime.blobs.upload(blobs)
            self.batches += 1
            outcomes = runtime.backend.submit_many([(p.spec, p.files) for p in ready])
        except Exception as exc:  # the same sentence for every job of the batch
            for pending in ready:
                self._refuse(pending, exc)
            return
        accepted: list[tuple[Pending, str]] = []
        for pending, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._refuse(pending, outcome)
            else:
                accepted.append((pending, outcome))
        self._accept(accepted)

    def _accept(self, accepted: list[tuple[Pending, str]]) -> None:
        """The scheduler took these jobs: record them (one transaction) and watch them (or
        cancel one now, if the user cancelled it while it was being submitted)."""
        runtime = self.runtime
        cancelled, watched = [], []
        with self._cond:
            for pending, native in accepted:
                pending.job.native_id = native
            records.record_jobs(runtime.profile, [p.job for p, _ in accepted])
            for pending, _ in accepted:
                job = pending.job
                if job.done():
                    cancelled.append(job)
                else:
                    job.set_state(JobState.PENDING, "submitted")
                    watched.append(job)
        if cancelled:
            runtime.backend.cancel([WatchTarget(j.native_id, j.job_dir) for j in cancelled])
            for job in cancelled:
                runtime.mark_dirty(job)  # the row says CANCELLED again
        runtime.watcher.add_many(list(watched))

    def _refuse(self, pending: Pending, exc: BaseException) -> None:
        refuse(pending.job, exc)


def refuse(job: Job, exc: BaseException) -> None:
    """The job was not submitted: FAILED with the sentence, raised by ``result()``."""
    if job.cancelled():  # cancelled by the user meanwhile: its row says so already
        return
    records.record_refused(job.id, exc)
    reason = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
    job.set_state(JobState.FAILED, f"not submitted: {reason}")
    job.resolve(exception=exc)
