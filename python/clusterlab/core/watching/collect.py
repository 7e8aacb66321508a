"""Collecting what a poll saw finish: results downloaded in one round trip for all of
them, futures resolved, the ledger written before anyone waiting wakes up.

A job that ended without a result (cancelled, timed out, lost, killed) is failed with a
:class:`JobError` that says how it ended and ends with the last lines of its stderr.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ...common import jobdir
from ...common.errors import JobError, RemoteEnvironmentError
from ...common.states import JobState
from ...config.resultlimit import size_text
from ..environment.packages import missing_module_hint
from ..ledger import store as ledger
from ..model.alive import live, watch_only
from ..model.remoteresult import REMOTE_REASON, RemoteResult
from ..model.settle import DEPENDENCY_FAILED, Decision
from ..transfer.payload import load_result
from ..transfer.staging import StagingHost, fetch_outputs

if TYPE_CHECKING:
    from ..model.job import Job

DOWNLOAD_TRIES = 3  # polls that may fail to fetch a finished job's result before it is LOST


class CorruptResult(Exception):
    """A result file whose bytes do not match the sha256 its runner recorded."""

    def __str__(self) -> str:
        return (
            "its result file does not match the checksum its runner recorded (truncated, "
            "corrupted or replaced), so it was not loaded"
        )


def _intact(data: bytes | None, digest: str) -> bool:
    """True unless the runner recorded a checksum that these bytes do not have."""
    return data is None or not digest or hashlib.sha256(data).hexdigest() == digest


@dataclass
class Finished:
    """A job (or item) the poll saw end; ``outcome`` is what its runner reported."""

    job: Job
    decision: Decision
    outcome: str  # ok | error | env_error | no_python | "" (no report)
    digest: str = ""  # the result file's sha256 as its runner recorded it ("" before 0.x)
    size: int = -1  # the result file's size as its runner recorded it (-1: not said)
    data: bytes | None = None  # the result file as the poll carried it (small results)


def _stays_remote(f: Finished) -> bool:
    """A value larger than its job's ``result_limit``: left on the cluster as a
    :class:`RemoteResult` (an exception is always read: it is what the user must see)."""
    limit = f.job.result_limit
    return f.outcome == jobdir.OK and bool(limit) and f.size > (limit or 0)


class CollectHost(StagingHost, Protocol):
    """What the collector needs of its runtime: what staging needs (outputs are fetched
    with results), its job dirs' logs, and writing the ledger before futures resolve."""

    def read_log(self, job: Job, name: str) -> str: ...

    def flush(self) -> None: ...


class Collector:
    """Turns finished jobs into resolved futures, for one runtime."""

    def __init__(self, runtime: CollectHost) -> None:
        self.runtime = runtime
        self._download_failures: dict[str, int] = {}
        self.pushed: dict[str, bytes] = {}  # job id -> its result, pushed (agentresults)

    def collect(self, finished: Sequence[Finished]) -> None:
        """Resolve finished jobs: results fetched in one round trip for all of them (not
        the values of jobs watched only for their state, see ``alive.watch_only``)."""
        unread = {id(f) for f in finished if _watched_only(f)}
        remote = {id(f) for f in finished if id(f) not in unread and _stays_remote(f)}
        reads = [
            f
            for f in finished
            if id(f) not in unread
            and id(f) not in remote
            and (
                f.outcome in (jobdir.OK, jobdir.ERROR)
                or (f.outcome == jobdir.ENV_ERROR and not f.job.array_id)
            )
        ]
        read_ids = {id(f) for f in reads}
        # What the poll carried and the runner's digest vouches for is not read again (a
        # stale file of an earlier run, or one caught mid-rename, fails the digest).
        pushed = {id(f): self.pushed.pop(f.job.id, None) for f in finished}
        carried = {id(f): pushed[id(f)] if f.data is None else f.data for f in reads}
        files: dict[str, bytes | None] = {
            f.job.result_path: carried[id(f)]
            for f in reads
            if carried[id(f)] is not None and f.digest and _intact(carried[id(f)], f.digest)
        }
        unread_paths = [f.job.result_path for f in reads if f.job.result_path not in files]
        if unread_paths:
            try:
                files.update(self.runtime.transport.read_files(unread_paths))
            except Exception as exc:
                self._download_failed(finished, exc)
                return
        corrupt = [f for f in reads if not _intact(files.get(f.job.result_path), f.digest)]
        if corrupt:
            self._download_failed(corrupt, CorruptResult())
            bad = {id(f) for f in corrupt}
            finished = [f for f in finished if id(f) not in bad]
        resolutions: list[tuple[Job, str, Any]] = []  # (job, "result"|"exception"|"fail", v)
        # Jobs cancelled for a failed dependency go last: by then the dependency's own
        # state (settled in the same poll) is set and the reason can name how it ended.
        finished = sorted(finished, key=lambda f: f.decision.reason == DEPENDENCY_FAILED)
        for f in finished:
            if f.decision.reason == DEPENDENCY_FAILED:
                f.decision.reason = failure_reason(f.job)
            job = f.job
            data = files.get(job.result_path) if id(f) in read_ids else None
            if id(f) in unread:
                job.set_state(JobState.COMPLETED, "")
                resolutions.append((job, "unread", None))
            elif id(f) in remote:
                if job.outputs:
                    self._outputs(job)
                handle = RemoteResult(job, f.size, f.digest)
                job.set_state(
                    JobState.COMPLETED,
                    f"{REMOTE_REASON} ({size_text(f.size)}, over its result_limit): "
                    ".result() gives a RemoteResult; its .fetch() downloads it",
                )
                resolutions.append((job, "result", handle))
            elif data is not None:
                ok, value = load_result(data)
                if ok and job.outputs:
                    self._outputs(job)
                if ok:
                    job.set_state(JobState.COMPLETED, "")
                    resolutions.append((job, "result", value))
                else:
                    summary = f"{type(value).__name__}: {value}".splitlines()[0][:300]
                    job.set_state(JobState.FAILED, f"raised {summary}")
                    resolutions.append((job, "exception", value))
            elif f.outcome == jobdir.ENV_ERROR:
                job.set_state(JobState.FAILED, f.decision.reason)
                why = f"{f.decision.reason} {missing_module_hint(f.decision.reason)}".strip()
                resolutions.append((job, "exception", RemoteEnvironmentError(why)))
            else:
                reason = f.decision.reason or "it ended without writing a result"
                job.set_state(f.decision.state, reason)
                resolutions.append((job, "fail", (f.decision.state, reason)))
        self.runtime.flush()  # the ledger is current before anyone waiting on a result wakes
        for job, kind, value in resolutions:
            if kind == "unread":
                job.resolve_unread()
            elif kind == "fail":
                self.fail(job, *value)
            elif kind == "result":
                job.resolve(value)
            else:
                job.resolve(exception=value)

    def _outputs(self, job: Job) -> None:
        """outputs=: the files come back before the result does; a failure to fetch them
        is said (the value is still good), not raised."""
        try:
            fetch_outputs(self.runtime, job)
        except Exception as exc:
            warnings.warn(
                f"job {job.id}: its outputs could not be downloaded ({exc}); they are still "
                f"in {job.outputs[0] if job.outputs else '?'} on the cluster",
                stacklevel=2,
            )

    def _download_failed(self, finished: Sequence[Finished], exc: Exception) -> None:
        """A dropped connection: the next poll sees them finished again and retries; only
        a download that keeps failing settles them LOST, with the reason."""
        for f in finished:
            tries = self._download_failures.get(f.job.id, 0) + 1
            self._download_failures[f.job.id] = tries
            if tries >= DOWNLOAD_TRIES and isinstance(exc, CorruptResult):
                self.fail(f.job, JobState.FAILED, str(exc))
            elif tries >= DOWNLOAD_TRIES:
                self.fail(f.job, JobState.LOST, f"could not download the result: {exc}")
            else:
                f.job.set_state(f.job.state, f"downloading its result failed, retrying: {exc}")

    def fail(self, job: Job, state: JobState, reason: str) -> None:
        """End ``job`` without a result: cancelled futures are cancelled, anything else
        raises a JobError carrying the state, the reason and the tail of its stderr."""
        if not job.set_state(state, reason):
            state, reason = job.state, job.reason  # e.g. a restored failure stays one
        if job.done():
            return
        if state == JobState.CANCELLED:
            job.cancel_future()
            return
        whose, tail = "the job's", ""
        try:
            # A job never submitted has no files (its host may be unreachable): no tail.
            tail = job.stderr().strip()[-2000:] if job.native_id else ""
            if not tail and job.array_id:  # an item its task never reached: why it ended
                whose = "its task's"
                tail = self.runtime.read_log(job, jobdir.log_file(jobdir.STDERR, job.task))
                tail = tail.strip()[-2000:]
        except Exception as exc:
            tail = f"(stderr unavailable: {exc})"
        detail = f"\n--- last lines of {whose} stderr ---\n{tail}" if tail else ""
        job.resolve(
            exception=JobError(
                f"job {job.id} ({job.name}) on {self.runtime.profile.name} ended {state}: "
                f"{reason}{detail}",
                job_id=job.id,
                state=state.value,
                reason=reason,
            )
        )


def _watched_only(f: Finished) -> bool:
    """A job that completed with a value nobody here asked for: reattached only to watch
    its state (``alive.watch_only``), without outputs to bring back."""
    job = f.job
    return (
        f.outcome == jobdir.OK
        and not job.outputs
        and (job.id in watch_only or (bool(job.array_id) and job.array_id in watch_only))
    )


def failure_reason(job: Job) -> str:
    """Which dependency made ``job`` impossible, as a reason sentence."""
    for dep_id in job.after_ids:
        dep = live.get(dep_id)
        if dep is not None:
            if dep.state.finished and dep.state != JobState.COMPLETED:
                return f"dependency failed: job {dep.id} ({dep.name}) ended {dep.state}"
        else:
            rec = ledger.get(dep_id)
            if rec and rec.state in ("FAILED", "CANCELLED", "TIMEOUT", "LOST"):
                return f"dependency failed: job {rec.id} ({rec.name}) ended {rec.state}"
    names = [
        f"job {i} ({dep.name})" if (dep := live.get(i)) is not None else f"job {i}"
        for i in job.after_ids
    ]
    return f"dependency failed: {', '.join(names) or 'an earlier job'} did not complete"


_FAILED = ("FAILED", "CANCELLED", "TIMEOUT", "LOST")


def a_dependency_failed(job: Job) -> bool:
    """Whether a job ``job`` waits for ended without success (live, else in the ledger)."""
    for dep_id in job.after_ids:
        dep = live.get(dep_id)
        if dep is not None and dep.state.finished and dep.state != JobState.COMPLETED:
            return True
        rec = ledger.get(dep_id) if dep is None else None
        if rec is not None and rec.state in _FAILED:
            return True
    return False


def deleted_for_dependency(job: Job, decision: Decision, started: bool) -> Decision:
    """A job that left the queue before it ran while a job it waits for failed was deleted
    by the scheduler for that (PBS does, and without job history keeps no trace of it): it
    ends CANCELLED for its dependency (the collector names which), not LOST."""
    if decision.state != JobState.LOST or started or not job.after_ids:
        return decision
    if not a_dependency_failed(job):
        return decision
    return Decision(JobState.CANCELLED, DEPENDENCY_FAILED, decision.absence)
