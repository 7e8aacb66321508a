"""Job: a submitted call. A ``concurrent.futures.Future`` that is also awaitable."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

from ...common import errors, jobdir
from ...common.efficiency import Efficiency, request_hint, suggested
from ...common.errors import ClusterlabError, OurFramesHidden, SerializationError
from ...common.jobdir import StatusInfo
from ...common.states import JobState
from ...common.usage import Usage
from ...config.resources import Resources
from ..transfer.payload import load_result
from .efficiency import efficiency_of
from .events import JobEvent, publish
from .leanfuture import FUTURE_SLOTS, init_future
from .logs import Span, read_output
from .ranks import log_name, task_results
from .remoteresult import RemoteResult

if TYPE_CHECKING:
    from .host import JobHost


_NOT_AFTER_FAILED = frozenset({JobState.PENDING, JobState.RUNNING, JobState.LOST})


_FIELDS = """engine id name native_id job_dir resources after_ids array_id index task
array_native profile submitted_at started_at ended_at host _job_state _job_reason _final_here
_forgotten _usage item_logs outputs output_files max_attempts result_limit _history""".split()  # noqa: SIM905


class Job(concurrent.futures.Future):  # type: ignore[type-arg]
    """One scheduler job (or one item of an array) running one call.

    ``result(timeout)`` waits without holding anything else up and re-raises a remote
    exception with its original type (remote traceback as ``__cause__``). ``cancel()``
    cancels the scheduler job itself, pending or running. ``await job`` works in asyncio.
    """

    # A map of 100,000 items holds 100,000 Jobs: slots (Future's attributes too) instead of
    # a dict each save ~1.3 KB a Job, the lean condition ~1.2 KB more (see .leanfuture).
    __slots__ = (*FUTURE_SLOTS, *_FIELDS)

    def __init__(
        self,
        host: JobHost,
        job_id: str,
        name: str,
        native_id: str,
        job_dir: str,
        resources: Resources,
        *,
        after: list[str] | None = None,
        array_id: str = "",
        index: int = -1,
        task: int = -1,
        array_native: str = "",
    ) -> None:
        init_future(self)  # Future.__init__ with a lean condition
        self.engine = host  # what runs it (engine-only: see .host.JobHost)
        self.id = job_id
        self.name = name
        self.native_id = native_id
        self.job_dir = job_dir
        self.resources = resources
        self.after_ids = list(after or [])
        self.array_id = array_id
        self.index = index
        self.task = task
        self.array_native = array_native  # the native id of the array part it belongs to
        self.profile = host.profile.name
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.host = ""
        self._job_state = JobState.PENDING
        self._job_reason = "submitted"
        self._final_here = False  # a final state set in this process (not restored)
        self._forgotten = False  # its value was let go: result() reads it again
        self._usage: Usage | None = None
        # Engine-only: an array item's output spans in its task's logs (a poll saw them).
        self.item_logs: dict[str, Span] = {}
        # outputs=: (working dir on the cluster, globs, local dir); fetched with the result
        self.outputs: tuple[str, list[str], str] | None = None
        self.output_files: Sequence[str] = ()  # local paths of outputs it brought back
        self.max_attempts = 1  # runs its requeue/retry policy allows (config/attempts.py)
        self.result_limit: int | None = None  # bytes; a larger result stays (0/None: none)
        self._history: Sequence[dict[str, object]] = ()  # its runs; (): a list less per item

    # -- where its files are ----------------------------------------------------------------
    @property
    def result_path(self) -> str:
        """Its result file on the cluster (what a dependent job reads)."""
        if self.array_id:
            return f"{self.job_dir}/{jobdir.item_result(self.index)}"
        return f"{self.job_dir}/{jobdir.RESULT}"

    # -- what users read --------------------------------------------------------------------
    @property
    def state(self) -> JobState:
        """SUBMITTING (accepted by ``submit()``, not yet by the scheduler), PENDING, RUNNING,
        COMPLETED, FAILED, CANCELLED, TIMEOUT or LOST."""
        return self._job_state

    @property
    def reason(self) -> str:
        """Why the job is in its state, as a sentence ("waiting for resources")."""
        return self._job_reason

    def result(self, timeout: float | None = None) -> Any:
        """The value, or the job's exception raised here (its remote traceback is its
        ``__cause__``) without the frames of concurrent.futures' waiting: IPython then shows
        the user's call and the job's error, and calling twice does not stack frames."""
        __tracebackhide__ = True  # IPython hides the waiting machinery
        # Whatever the future raises is the job's own exception (or the wait's timeout):
        # where it happened is in the remote traceback, printed above it, so it leaves
        # without a frame of ours, even this one.
        with OurFramesHidden(also=(BaseException,)):
            value = super().result(timeout)
        if self._forgotten:  # Executor.map let it go: read it again from the cluster
            return self._read_result_again()
        return value

    def running(self) -> bool:
        return self._job_state == JobState.RUNNING

    def cancel(self) -> bool:
        """Cancel the scheduler job; True unless it had already finished.

        An array item cancels its whole task (with ``chunksize > 1``, its chunk).
        """
        if self.done():
            return False
        self.engine.cancel([self])
        return True

    @property
    def usage(self) -> Usage | None:
        """What it used (elapsed and CPU seconds, peak memory in bytes) once it finished,
        as its runner measured it; None before, or when it was killed before it could say.
        For an array item the peak memory is its task's so far (an upper bound)."""
        return self._usage

    @property
    def usage_hint(self) -> str:
        """A sentence when the request was far from what it used ('' otherwise), e.g.
        "used 0.4 GB of 16 GB requested memory: memory='1GB' would do"."""
        r = self.resources
        return request_hint(self._usage, r.memory_mb, r.time_s, r.cores)

    def efficiency(self, source: str = "") -> Efficiency:
        """How well its request fitted what it used: ``.cpu``, ``.memory``, ``.time``
        (used/asked, 0..1), ``.advice`` (what to ask for next time) and ``.suggested``.
        From its runner's measurements; from the scheduler's accounting (where the kind
        reads one) when the runner wrote none (a job killed for memory or time) or
        ``source="accounting"`` (which outlives the job dir)."""
        return efficiency_of(self, self._usage, source)

    def suggested_resources(self) -> dict[str, Any]:
        """The resources to pass to ``.options()`` next time: this job's request with
        what :meth:`efficiency` advises changed (``{}`` when nothing is known)."""
        return suggested(self.resources, self.efficiency())

    @overload
    def stdout(self, follow: Literal[False] = False, rank: int | None = None) -> str: ...
    @overload
    def stdout(self, follow: Literal[True], rank: int | None = None) -> Iterator[str]: ...
    def stdout(self, follow: bool = False, rank: int | None = None) -> str | Iterator[str]:
        """What the job printed so far (read from its job dir). For an array item, only
        this item's output, although the items of a task share its log file.
        ``follow=True``: an iterator of new text as the job prints it, ending when the job
        has ended (an array item follows its task's log). A job of several tasks: rank 0's
        output (and the launcher's), ``rank=R`` for rank R's."""
        return self._log(jobdir.STDOUT, follow, rank)

    @overload
    def stderr(self, follow: Literal[False] = False, rank: int | None = None) -> str: ...
    @overload
    def stderr(self, follow: Literal[True], rank: int | None = None) -> Iterator[str]: ...
    def stderr(self, follow: bool = False, rank: int | None = None) -> str | Iterator[str]:
        """What the job wrote to stderr so far (an array item: only this item's);
        ``follow=True`` and ``rank=R`` as for :meth:`stdout`."""
        return self._log(jobdir.STDERR, follow, rank)

    def _log(self, stream: str, follow: bool, rank: int | None) -> str | Iterator[str]:
        name = log_name(self, stream, rank)
        if name is not None:  # rank R > 0: its own file, whole (followed: at the end)
            if follow:
                return iter([self._rank_log_when_done(name)])
            return self.engine.read_log(self, name)
        if follow:
            return (text for _, text in self.engine.follow_output(self, (stream,)))
        return read_output(self.engine, self, stream)

    def _rank_log_when_done(self, name: str) -> str:
        concurrent.futures.wait([self])
        return self.engine.read_log(self, name)

    def task_results(self, timeout: float | None = None) -> list[Any]:
        """Every rank's value, in rank order, for a job of several tasks (``tasks=N``);
        ``[result()]`` for a job of one. Raises as :meth:`result` does when a rank failed."""
        __tracebackhide__ = True
        first = self.result(timeout)
        return task_results(self.engine, self, first)

    def job_script(self) -> str:
        """The script that was submitted for this job, exactly."""
        return self.engine.read_log(self, jobdir.SCRIPT)

    def forget_result(self) -> None:
        """Let go of the value held in memory (``result()`` then reads it again from the
        cluster). ``Executor.map`` does this for every value it hands out, so iterating
        over large results does not keep them all, as CPython's executors do."""
        with self._condition:
            if self.done() and not self.cancelled() and self.exception(0) is None:
                keep = isinstance(self._result, RemoteResult)  # a handle holds no value
                self._result, self._forgotten = (self._result, False) if keep else (None, True)

    @property
    def result_unread(self) -> bool:
        """True when it completed but its value is not in memory (let go, or never read:
        a job watched only for its state); ``result()`` then reads it from the cluster."""
        return self._forgotten

    def resolve_unread(self) -> None:
        """Complete it without reading its value (see :attr:`result_unread`)."""
        with self._condition:
            if self.done():
                return
            self._forgotten = True
            self.set_result(None)

    def _read_result_again(self) -> Any:
        path = self.result_path
        data = self.engine.transport.read_files([path]).get(path)
        if data is None:
            raise ClusterlabError(
                f"the result of job {self.id} was let go from memory and its file {path} "
                "no longer exists (cleaned up?): run the job again to get it"
            )
        ok, value = load_result(data)
        if not ok:
            raise value
        return value

    def cleanup(self) -> None:
        """Delete the job's directory on the cluster (results and logs are gone after)."""
        self.engine.cleanup(self)

    def after(self, *jobs: Any) -> NoReturn:
        """Always an error: see the message for the right form."""
        raise errors.fixed_dependencies_error(f"job {self.id}", self.name)

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self).__await__()

    def __reduce__(self) -> NoReturn:
        raise SerializationError(
            f"job {self.id} was passed inside another object: a Job can be an argument of "
            "submit() or an item of map() directly (it becomes a dependency and the remote "
            "side gets its result), or pass job.result() instead"
        )

    def _repr_html_(self) -> str:
        from html import escape

        from ...common.style import card, elapsed_text

        elapsed = None
        if self.started_at:
            elapsed = (self.ended_at or time.time()) - self.started_at
        return card(
            f"Job <code>{escape(self.id)}</code> {escape(self.name)}",
            self.state.value,
            [
                ("profile", escape(self.profile)),
                ("native id", escape(self.native_id)),
                ("reason", escape(self.reason)),
                ("elapsed", elapsed_text(elapsed)),
                ("host", escape(self.host)),
                ("usage", escape(str(self._usage or ""))),
                ("hint", escape(self.usage_hint)),
            ],
        )

    def __repr__(self) -> str:
        reason = f", {self._job_reason}" if self._job_reason else ""
        usage = f"; {self._usage}" if self._usage else ""
        return f"<Job {self.id} {self.name} on {self.profile}: {self._job_state}{reason}{usage}>"

    # -- engine-only ------------------------------------------------------------------------
    # What the engine calls (watcher, collector, submission thread, ledger records, the
    # runtime's cancel): public so that no module reaches into another's private names,
    # but not part of the user API (docs/api.md lists what users call). Users cancel with
    # cancel() and read state, reason and result().
    @property
    def attempts(self) -> int:
        """How many times it ran (or runs now): 1 plus each requeue and each retry; 0
        before it first started."""
        return len(self._history)

    @property
    def history(self) -> list[dict[str, object]]:
        """Each run: ``attempt`` (1, 2, ...), ``host``, ``started``/``ended`` (epoch
        seconds), and ``cause``: why it ended to run again ("preempted by a job of higher
        priority", "time limit warning", "raised OSError: ..."); "" for the last run."""
        return [dict(run) for run in self._history]

    def restore_history(self, history: list[dict[str, object]], max_attempts: int) -> None:
        """From the ledger (a reattached job)."""
        self._history, self.max_attempts = [dict(r) for r in history], max(1, max_attempts)

    def take_report(self, report: StatusInfo) -> None:
        """What the runner reported for this job (or item) in a poll: what it used, where
        an item's output lies in its task's log once it finished, and its runs so far."""
        if report.runs and report.runs != self._history:
            self._history = [dict(run) for run in report.runs]
            self.engine.mark_dirty(self)
        if report.usage is not None and report.usage != self._usage:
            self._usage = report.usage
            self.engine.mark_dirty(self)  # the ledger keeps it for other processes
        if report.finished is not None and report.logs:
            self.item_logs = dict(report.logs)

    def cancel_future(self) -> None:
        """Mark the future cancelled *and notified*: concurrent.futures.wait() and
        as_completed() only count a cancelled future as done after the notification."""
        # The watcher and a user's cancel() may both get here: notify exactly once
        # (Future's condition wraps an RLock, so cancel() may take it again inside).
        with self._condition:
            if concurrent.futures.Future.cancel(self) and self._state == "CANCELLED":
                self.set_running_or_notify_cancel()

    def resolve(self, value: Any = None, exception: BaseException | None = None) -> None:
        """Set the outcome unless the future is already done (a user's cancel() may win
        the race with the watcher that collected the result)."""
        with self._condition:
            if self.done():
                return
            if exception is not None:
                self.set_exception(exception)
            else:
                self.set_result(value)

    def restore(
        self,
        state: JobState,
        reason: str,
        submitted: float,
        started: float | None,
        ended: float | None,
        usage: Usage | None = None,
    ) -> None:
        """Take the state, times and usage a ledger row recorded (reattach), without an
        event."""
        self._job_state, self._job_reason = state, reason
        self.submitted_at, self.started_at, self.ended_at = submitted, started, ended
        self._usage = usage

    def set_state(self, state: JobState, reason: str) -> bool:
        """Record a transition and publish it; returns whether anything changed."""
        # A final state reached in this process is final (e.g. cancelled, then seen
        # "COMPLETING"). One restored from the ledger is only its last word until the job's
        # own files are read: a reattached LOST job found finished, a COMPLETED one whose
        # result file fails its checksum.
        settled = self._final_here or self.done()
        if self._job_state.finished and state != self._job_state and settled:
            return False
        if self._job_state == JobState.FAILED and state in _NOT_AFTER_FAILED:
            # A restored failure (e.g. killed for memory together with its job script, so
            # no file says how it ended) was seen by the scheduler before it forgot the
            # job: files that say nothing make it neither pending again nor "lost".
            return False
        if (state, reason) == (self._job_state, self._job_reason):
            return False
        if state == JobState.RUNNING and self.started_at is None:
            self.started_at = time.time()
        if state.finished and self.ended_at is None:
            self.ended_at = time.time()
        if state != self._job_state:
            self._final_here = state.finished
        self._job_state, self._job_reason = state, reason
        self.engine.mark_dirty(self)
        publish(
            JobEvent(
                self.id,
                self.profile,
                state,
                reason,
                self.native_id,
                {"array_id": self.array_id, "index": self.index} if self.array_id else {},
            )
        )
        return True
