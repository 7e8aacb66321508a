"""Job: a submitted call. A ``concurrent.futures.Future`` that is also awaitable."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .events import JobEvent, publish
from .resources import Resources
from .states import JobState

if TYPE_CHECKING:
    from .core import Runtime


class Job(concurrent.futures.Future):  # type: ignore[type-arg]
    """One scheduler job running one call.

    ``result(timeout)`` waits without holding anything else up and re-raises a remote
    exception with its original type (remote traceback as ``__cause__``). ``cancel()``
    cancels the scheduler job itself, pending or running. ``await job`` works in asyncio.
    """

    def __init__(
        self,
        runtime: Runtime,
        job_id: str,
        name: str,
        native_id: str,
        job_dir: str,
        resources: Resources,
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self.id = job_id
        self.name = name
        self.native_id = native_id
        self.job_dir = job_dir
        self.resources = resources
        self.profile = runtime.profile.name
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.host = ""
        self._job_state = JobState.PENDING
        self._job_reason = "submitted"

    # -- what users read --------------------------------------------------------------------
    @property
    def state(self) -> JobState:
        """PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT or LOST."""
        return self._job_state

    @property
    def reason(self) -> str:
        """Why the job is in its state, as a sentence ("waiting for resources")."""
        return self._job_reason

    def running(self) -> bool:
        return self._job_state == JobState.RUNNING

    def cancel(self) -> bool:
        """Cancel the scheduler job; True unless it had already finished."""
        if self.done():
            return False
        self._runtime.cancel(self)
        self._set_state(JobState.CANCELLED, "cancelled by you")
        return super().cancel()

    def stdout(self) -> str:
        """What the job printed so far (read from its job dir)."""
        return self._runtime.read_log(self, "stdout")

    def stderr(self) -> str:
        """What the job wrote to stderr so far."""
        return self._runtime.read_log(self, "stderr")

    def job_script(self) -> str:
        """The script that was submitted for this job, exactly."""
        return self._runtime.read_log(self, "job.sh")

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self).__await__()

    def __repr__(self) -> str:
        reason = f", {self._job_reason}" if self._job_reason else ""
        return f"<Job {self.id} {self.name} on {self.profile}: {self._job_state}{reason}>"

    # -- what the watcher calls -------------------------------------------------------------
    def _set_state(self, state: JobState, reason: str) -> bool:
        """Record a transition and publish it; returns whether anything changed."""
        if self._job_state.finished and state != self._job_state:
            return False  # a final state is final (e.g. cancelled, then seen "COMPLETING")
        if (state, reason) == (self._job_state, self._job_reason):
            return False
        if state == JobState.RUNNING and self.started_at is None:
            self.started_at = time.time()
        if state.finished and self.ended_at is None:
            self.ended_at = time.time()
        self._job_state, self._job_reason = state, reason
        publish(JobEvent(self.id, self.profile, state, reason, self.native_id))
        return True
