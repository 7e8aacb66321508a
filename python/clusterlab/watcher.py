"""One background watcher per cluster: a single poll covers every active job.

Each poll is one backend call (for SLURM: one ``squeue`` plus every status file, in one
SSH round trip). The interval starts short after a submission or a change and backs off
with jitter up to the profile's ``poll_interval``, so a thousand idle jobs cost the
scheduler one cheap query every few seconds and the kernel nothing.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

from .settle import Decision, decide, parse_status

if TYPE_CHECKING:
    from .core import Runtime
    from .job import Job

MIN_INTERVAL = 0.25
BACKOFF = 1.5
JITTER = 0.1


class Watcher:
    """Polls the runtime's active jobs on a daemon thread until none are left."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.max_interval = max(runtime.profile.poll_interval, MIN_INTERVAL)
        self.polls = 0
        self._jobs: dict[str, Job] = {}
        self._missing: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval = MIN_INTERVAL
        self._failures = 0

    def add(self, job: Job) -> None:
        """Watch ``job`` from now on and poll soon."""
        with self._lock:
            self._jobs[job.native_id] = job
            self._interval = MIN_INTERVAL
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run,
                    name=f"clusterlab-watch-{self.runtime.profile.name}",
                    daemon=True,
                )
                self._thread.start()
        self._wake.set()

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.native_id, None)
            self._missing.pop(job.native_id, None)

    @property
    def active(self) -> int:
        return len(self._jobs)

    def _run(self) -> None:
        while True:
            with self._lock:
                jobs = list(self._jobs.values())
                if not jobs:
                    self._thread = None
                    return
            changed = self.poll_once(jobs)
            if changed:
                self._interval = MIN_INTERVAL
            else:
                self._interval = min(self._interval * BACKOFF, self.max_interval)
            delay = self._interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
            self._wake.wait(delay)
            self._wake.clear()

    def poll_once(self, jobs: list[Job]) -> bool:
        """Observe ``jobs`` once, update them, collect finished ones; True if any changed."""
        try:
            observations = self.runtime.backend.poll([(j.native_id, j.job_dir) for j in jobs])
        except Exception as exc:  # keep watching through a dropped connection
            self._failures += 1
            self._interval = min(self._interval * BACKOFF * 2, self.max_interval * 4)
            for job in jobs:
                job._set_state(job.state, f"cannot reach the scheduler, retrying ({exc})")
            return False
        self._failures = 0
        self.polls += 1
        changed = False
        finished: list[tuple[Job, Decision, bool]] = []
        for job in jobs:
            obs = observations[job.native_id]
            status = parse_status(obs.status)
            if status.host:
                job.host = status.host
            # The runner's own clock, not when we happened to look.
            job.started_at = job.started_at or status.started
            job.ended_at = job.ended_at or status.finished
            decision = decide(
                job.state, obs, status, self._missing.get(job.native_id, 0), job.resources.time_s
            )
            self._missing[job.native_id] = decision.missing_polls
            if decision.state.finished:
                # collect() reads the result file (when the runner wrote one) and then
                # sets the final state, so the state never runs ahead of the result.
                finished.append((job, decision, status.finished is not None))
                continue
            changed |= job._set_state(decision.state, decision.reason)
        if finished:
            for job, _, _ in finished:
                self.discard(job)
            self.runtime.collect(finished)
            changed = True
        return changed
