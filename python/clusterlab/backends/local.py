"""The local machine as a scheduler: an asyncio subprocess manager in a background thread.

Jobs are real processes (one Python per job or array task, like on a cluster) so a crash,
a time limit or a cancel behaves the same way everywhere. Each runs in its own session, so
a cancel or time limit kills the whole process group, and a job survives a kernel restart
(a later process settles it from its status file). Dependencies follow SLURM's
``afterok``: a job starts when all it waits for completed, and is cancelled if one did not.
Every job is also spooled in this machine's host queue (:mod:`.local_queue`), whose
dispatcher takes over what a killed kernel had still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..common import jobdir
from ..common.errors import SubmitError
from ..common.processes import killed_by
from ..common.states import JobState
from ..config.profile import Profile
from ..config.resources import Resources, format_time
from ..transports.base import Transport
from . import local_queue
from .base import (
    STAGE_FAILED,
    Backend,
    JobSpec,
    Observation,
    WatchTarget,
    task_observations,
)
from .local_gpus import VISIBLE_VAR, GpuClaims, take_gpus, visible_gpus
from .local_orphans import (
    LAUNCHED,
    kill_orphans,
    orphan_array,
    orphan_observation,
    owner_alive,
)
from .script import render_script

KILL_GRACE_SECONDS = 2.0
TIMEOUT_EXIT = 124  # coreutils timeout: the job script stopped the runner at its limit
LIMIT_BACKSTOP = 10  # seconds past the limit after which this kernel kills it itself
TASK_VAR = "CLUSTERLAB_TASK"


@dataclass
class _Task:
    state: JobState
    reason: str
    proc: asyncio.subprocess.Process | None = None
    cancel_requested: bool = False


@dataclass
class _LocalJob:
    tasks: dict[int, _Task]  # a single job is task -1
    is_array: bool
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def succeeded(self) -> bool:
        return all(t.state == JobState.COMPLETED for t in self.tasks.values())


def _private_log(path: Path) -> BinaryIO:
    """A job's stdout/stderr file, 0600 like every other file of the job."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


STARTING = "starting"


class LocalBackend(Backend):
    """Runs at most ``max_concurrent`` processes at once; the rest wait in order."""

    kind = "local"
    push_status = False  # it runs the jobs itself and sees them end (on_change)

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self.slots = profile.max_concurrent or os.cpu_count() or 1
        self._jobs: dict[str, _LocalJob] = {}
        self._ids = itertools.count(1)
        self._running = 0  # tasks holding a slot (changed on the loop thread only)
        self._sem: asyncio.Semaphore | None = None
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        self._spooled: dict[str, tuple[str, str]] = {}  # native -> (job dir, spool entry)
        self._gpus: GpuClaims | None = None

    def gpu_claims(self) -> GpuClaims:
        """This machine's GPUs (looked for once per backend), shared out one job each."""
        if self._gpus is None:
            self._gpus = GpuClaims(visible_gpus())
        return self._gpus

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The scheduler's event loop, started on first use (and again after close())."""
        with self._loop_lock:
            if self._thread is None or not self._thread.is_alive():
                if self._loop.is_closed():
                    self._loop = asyncio.new_event_loop()
                    self._sem = None
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="clusterlab-local", daemon=True
                )
                self._thread.start()
            return self._loop

    def idle(self) -> bool:
        """No job of this backend is waiting or running."""
        return all(job.done.is_set() for job in self._jobs.values())

    def describe(self) -> str:
        return f"local processes on this machine, {self.slots} at once"

    def capacity(self, resources: Resources) -> int:
        return self.slots  # one process per slot, whatever cores it asks for

    def job_script(self, spec: JobSpec) -> str:
        # The script enforces the time limit itself, so it holds after this kernel exits.
        return render_script(spec, task_var=TASK_VAR, enforce_limit=True)

    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        if spec.resources.gpus:
            self.gpu_claims().check(spec.resources.gpus)
        native = f"{os.getpid()}.{next(self._ids)}"
        queued = local_queue.spec_of(spec, self.slots, self._spooled)
        staged = {
            **files,
            "job.sh": self.job_script(spec).encode(),
            jobdir.SUBMITTED: native.encode(),  # found again if this kernel dies now
            "queue.json": queued,  # the host queue takes it over if this kernel dies
        }
        res = self.transport.stage(spec.job_dir, staged, executable=["job.sh"])
        if res.returncode != 0:
            what = "create the job directory" if res.returncode == STAGE_FAILED else "stage"
            raise SubmitError(f"could not {what} {spec.job_dir}: {res.err.strip()}")
        # Not "waiting for a free slot" while slots are free: it starts at once.
        waiting = "waiting for the jobs it depends on" if spec.after else ""
        reason = waiting or (self._no_slot() or STARTING)
        indices = range(spec.array.tasks) if spec.array else [-1]
        self._jobs[native] = _LocalJob(
            {i: _Task(JobState.PENDING, reason) for i in indices}, spec.array is not None
        )
        entry = local_queue.spool(spec.job_dir)
        self._spooled[native] = (spec.job_dir, entry)
        asyncio.run_coroutine_threadsafe(self._run_job(native, spec), self._running_loop())
        return native

    async def _wait_for(self, native: str) -> bool:
        """afterok on a job, an array, or one task ("N_T") of an array."""
        base, _, task = native.partition("_")
        job = self._jobs.get(base)
        if job is None:
            return False
        while not job.done.is_set() and not (task and job.tasks[int(task)].state.finished):
            await asyncio.sleep(0.05)
        return job.tasks[int(task)].state == JobState.COMPLETED if task else job.succeeded

    async def _run_job(self, native: str, spec: JobSpec) -> None:
        job = self._jobs[native]
        try:
            for dep in spec.after:
                if not await self._wait_for(dep):
                    for task in job.tasks.values():
                        if not task.state.finished:
                            task.state, task.reason = JobState.CANCELLED, "dependency failed"
                    local_queue.record(
                        spec.job_dir, task=None, event="ended", dependency=dep, known=True
                    )
                    return
            throttle = asyncio.Semaphore(
                spec.array.max_concurrent if spec.array and spec.array.max_concurrent else 10**9
            )
            await asyncio.gather(*(self._run_and_tell(job, i, spec, throttle) for i in job.tasks))
        finally:
            job.done.set()
            job_dir, entry = self._spooled.get(native, (spec.job_dir, ""))
            if entry:
                local_queue.unspool(job_dir, entry)

    async def _run_and_tell(
        self, job: _LocalJob, index: int, spec: JobSpec, throttle: asyncio.Semaphore
    ) -> None:
        """Run a task, then tell the watcher: it polls now instead of at its next tick."""
        try:
            await self._run_task(job, index, spec, throttle)
        finally:
            task = job.tasks[index]
            code = task.proc.returncode if task.proc is not None else None
            local_queue.record_end(spec.job_dir, index, task.state, code, task.reason)
            self.on_change()

    async def _run_task(
        self, job: _LocalJob, index: int, spec: JobSpec, throttle: asyncio.Semaphore
    ) -> None:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        task = job.tasks[index]
        job_dir = Path(spec.job_dir)
        if not task.state.finished and task.state == JobState.PENDING:  # what it waits for
            if throttle.locked():
                task.reason = "waiting: its array runs a limited number of tasks at once"
            elif self._sem.locked():
                task.reason = self._no_slot() or task.reason
        async with throttle, self._sem:
            self._running += 1
            try:
                await self._run_in_slot(job, index, spec, task, job_dir)
            finally:
                self._running -= 1

    def _no_slot(self) -> str:
        """Why a job does not start now ('' when a slot is free)."""
        if self._running < self.slots:
            return ""
        return f"waiting for a free slot ({self._running} of {self.slots} running)"

    @staticmethod
    def _marked(job_dir: Path, index: int) -> bool:
        """Cancelled from another process (a marker in its job dir)."""
        return (job_dir / "cancel").exists() or (job_dir / f"cancel.{index}").exists()

    async def _run_in_slot(
        self, job: _LocalJob, index: int, spec: JobSpec, task: _Task, job_dir: Path
    ) -> None:
        marked = self._marked(job_dir, index)
        if marked:  # cancelled from another process while it waited here
            task.state, task.reason = JobState.CANCELLED, "cancelled before it started"
        if task.cancel_requested or task.state.finished:
            return
        suffix = f".{index}" if job.is_array else ""
        env = {**os.environ, TASK_VAR: str(index)} if job.is_array else dict(os.environ)
        gpus = await take_gpus(self.gpu_claims(), spec.resources.gpus or 0, env, task)
        try:
            await self._spawn_and_wait(job, index, spec, task, job_dir, suffix, env)
        finally:
            self.gpu_claims().release(gpus)

    async def _spawn_and_wait(
        self,
        job: _LocalJob,
        index: int,
        spec: JobSpec,
        task: _Task,
        job_dir: Path,
        suffix: str,
        env: dict[str, str],
    ) -> None:
        local_queue.record(spec.job_dir, task=index, event="claimed")
        with (
            _private_log(job_dir / f"stdout{suffix}") as out,
            _private_log(job_dir / f"stderr{suffix}") as err,
        ):
            try:
                task.proc = await asyncio.create_subprocess_exec(
                    "/bin/sh",
                    "job.sh",
                    cwd=spec.job_dir,
                    stdout=out,
                    stderr=err,
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                )
            except OSError as exc:
                task.state, task.reason = JobState.FAILED, f"could not start the job: {exc}"
                return
        local_queue.started(spec.job_dir, index, task.proc.pid)
        launched = os.open(
            job_dir / f"{LAUNCHED}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        with os.fdopen(launched, "w") as pid_file:  # seen by other kernels (_launched)
            pid_file.write(str(task.proc.pid))
        if env.get(VISIBLE_VAR):
            self.gpu_claims().hand_over(env[VISIBLE_VAR].split(","), task.proc.pid)
        if self._cancelled(task):  # cancelled while the process was being created
            await self._kill(task.proc)
            task.state, task.reason = JobState.CANCELLED, "cancelled by you before it started"
            return
        task.state, task.reason = JobState.RUNNING, ""
        backstop = spec.resources.time_s + LIMIT_BACKSTOP if spec.resources.time_s else None
        try:
            code = await asyncio.wait_for(task.proc.wait(), timeout=backstop)
        except asyncio.TimeoutError:
            await self._kill(task.proc)
            limit = format_time(spec.resources.time_s or 0)
            task.state = JobState.TIMEOUT
            task.reason = f"killed after reaching its time limit ({limit})"
            return
        if self._cancelled(task) or self._marked(job_dir, index):  # here or elsewhere
            task.state, task.reason = JobState.CANCELLED, "cancelled by you"
        elif code == TIMEOUT_EXIT and spec.resources.time_s:  # the script's own limit
            limit = format_time(spec.resources.time_s)
            task.state = JobState.TIMEOUT
            task.reason = f"killed after reaching its time limit ({limit})"
        elif code == 0:
            task.state = JobState.COMPLETED
        else:
            task.state = JobState.FAILED
            task.reason = f"exited with code {code}" if code > 0 else killed_by(-code)

    @staticmethod
    def _cancelled(task: _Task) -> bool:
        """Read the flag afresh: cancel() sets it from another thread while we wait."""
        return task.cancel_requested

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

    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        out = {}
        for t in targets:
            files = {p.name: p.read_bytes() for p in Path(t.job_dir).glob("status*")}
            gone = not Path(t.job_dir).is_dir()
            job = self._jobs.get(t.native_id)
            if job is None and local_queue.spooled(t.job_dir) and not owner_alive(t.native_id):
                # its kernel is gone: the host queue runs (or ran) what it had not started
                out[t.native_id] = local_queue.taken_over(t.job_dir, t.is_array)
                continue
            if job is None and t.is_array:
                out[t.native_id] = orphan_array(files, t.native_id, t.job_dir)
            elif job is None:
                out[t.native_id] = orphan_observation(files.get("status"), t.native_id, t.job_dir)
            elif t.is_array:
                tasks = {
                    i: Observation(task.state, task.reason, task.state.value)
                    for i, task in job.tasks.items()
                }
                out[t.native_id] = Observation(None, "", tasks=task_observations(files, tasks))
            else:
                task = job.tasks[-1]
                out[t.native_id] = Observation(
                    task.state, task.reason, task.state.value, files.get("status")
                )
            if gone:
                for seen in (out[t.native_id], *out[t.native_id].tasks.values()):
                    seen.dir_missing = True
        return out

    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        for target in targets:
            base, _, index = target.native_id.partition("_")
            job = self._jobs.get(base)
            if job is None:  # another process owns it: mark it, and stop its runner if started
                marker = Path(target.job_dir) / (f"cancel.{index}" if index else "cancel")
                with contextlib.suppress(OSError):
                    marker.touch(mode=0o600)
                kill_orphans(target.job_dir, index)
                continue
            tasks = [t for i, t in job.tasks.items() if not index or i == int(index)]
            loop = self._running_loop()
            asyncio.run_coroutine_threadsafe(self._cancel_tasks(tasks), loop).result()

    async def _cancel_tasks(self, tasks: Sequence[_Task]) -> None:
        """On the loop thread, so a task cannot start between the check and the mark (a
        task being spawned sees ``cancel_requested`` right after and kills its process)."""
        for task in tasks:
            if task.state.finished:
                continue
            task.cancel_requested = True
            if task.proc is None:
                task.state, task.reason = JobState.CANCELLED, "cancelled by you before it started"
            else:
                await self._kill(task.proc)

    def close(self) -> None:
        """Stop the loop thread (a later submission starts a new one); a loop with nothing
        pending is closed too, so a backend made only to render a script leaks nothing."""
        with self._loop_lock:
            if self._thread is not None and self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=5)
            self._thread = None
            if not self._loop.is_running() and not asyncio.all_tasks(self._loop):
                self._loop.close()
