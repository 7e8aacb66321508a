"""The local machine as a scheduler: an asyncio subprocess manager in a background thread.

Jobs are real processes (one Python per job, like on a cluster) so a crash, a time limit
or a cancel behaves the same way everywhere. Each runs in its own session, so a cancel or
time limit kills the whole process group, and a job survives a kernel restart.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SubmitError
from ..profile import Profile
from ..resources import format_time
from ..states import JobState
from ..transports.base import Transport
from .base import STAGE_FAILED, Backend, JobSpec, Observation, render_script

KILL_GRACE_SECONDS = 2.0


@dataclass
class _LocalJob:
    state: JobState
    reason: str
    proc: asyncio.subprocess.Process | None = None
    cancel_requested: bool = False


class LocalBackend(Backend):
    """Runs at most ``max_concurrent`` jobs at once; the rest wait in order."""

    kind = "local"

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self.slots = profile.max_concurrent or os.cpu_count() or 1
        self._jobs: dict[str, _LocalJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._sem: asyncio.Semaphore | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="clusterlab-local", daemon=True
        )
        self._thread.start()

    def describe(self) -> str:
        return f"local processes on this machine, {self.slots} at once"

    def job_script(self, spec: JobSpec) -> str:
        return render_script(spec)

    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        staged = {**files, "job.sh": self.job_script(spec).encode()}
        res = self.transport.stage(spec.job_dir, staged, executable=["job.sh"])
        if res.returncode != 0:
            code = (
                "could not create the job directory"
                if res.returncode == STAGE_FAILED
                else "staging failed"
            )
            raise SubmitError(f"{code} {spec.job_dir}: {res.err.strip()}")
        native = f"{os.getpid()}.{next(self._ids)}"
        with self._lock:
            self._jobs[native] = _LocalJob(
                JobState.PENDING, f"waiting for a free slot ({self.slots} jobs run at once)"
            )
        asyncio.run_coroutine_threadsafe(self._run(native, spec), self._loop)
        return native

    async def _run(self, native: str, spec: JobSpec) -> None:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        job = self._jobs[native]
        async with self._sem:
            if job.cancel_requested:
                return
            job_dir = Path(spec.job_dir)
            with open(job_dir / "stdout", "ab") as out, open(job_dir / "stderr", "ab") as err:
                try:
                    job.proc = await asyncio.create_subprocess_exec(
                        "/bin/sh",
                        "job.sh",
                        cwd=spec.job_dir,
                        stdout=out,
                        stderr=err,
                        stdin=asyncio.subprocess.DEVNULL,
                        start_new_session=True,
                    )
                except OSError as exc:
                    job.state, job.reason = JobState.FAILED, f"could not start the job: {exc}"
                    return
            job.state, job.reason = JobState.RUNNING, ""
            try:
                code = await asyncio.wait_for(job.proc.wait(), timeout=spec.resources.time_s)
            except asyncio.TimeoutError:
                await self._kill(job.proc)
                limit = format_time(spec.resources.time_s or 0)
                job.state = JobState.TIMEOUT
                job.reason = f"killed after reaching its time limit ({limit})"
                return
            if self._cancelled(job):
                job.state, job.reason = JobState.CANCELLED, "cancelled by you"
            elif code == 0:
                job.state = JobState.COMPLETED
            else:
                job.state = JobState.FAILED
                job.reason = f"exited with code {code}" if code > 0 else f"killed by signal {-code}"

    @staticmethod
    def _cancelled(job: _LocalJob) -> bool:
        """Read the flag afresh: cancel() sets it from another thread while we wait."""
        return job.cancel_requested

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
                return
            except asyncio.TimeoutError:
                continue

    def poll(self, jobs: Sequence[tuple[str, str]]) -> dict[str, Observation]:
        out = {}
        for native, job_dir in jobs:
            try:
                status: bytes | None = (Path(job_dir) / "status").read_bytes()
            except FileNotFoundError:
                status = None
            job = self._jobs.get(native)
            # A job of an earlier process is unknown here: its status file settles it.
            out[native] = Observation(
                state=job.state if job else None,
                reason=job.reason if job else "",
                raw=job.state.value if job else "",
                status=status,
            )
        return out

    def cancel(self, native_ids: Sequence[str]) -> None:
        for native in native_ids:
            job = self._jobs.get(native)
            if job is None or job.state.finished:
                continue
            job.cancel_requested = True
            if job.proc is None:
                job.state, job.reason = JobState.CANCELLED, "cancelled by you before it started"
            else:
                asyncio.run_coroutine_threadsafe(self._kill(job.proc), self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
