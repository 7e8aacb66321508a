"""Jobs the local scheduler started for another process (a kernel before its restart):
is their runner or shell still alive, and what does that say about their state?

A local job outlives its kernel (it leads its own session), so a later kernel, the panel's
or the CLI settles it from its files and these liveness checks, never from a queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from ..common import jobdir
from ..common.jobdir import parse_status
from ..common.processes import pid_alive
from ..common.states import JobState
from .base import Observation, task_observations

LAUNCHED = "launched"  # the job shell's pid, written as it starts (another kernel reads it)
EMPTY_CMDLINE_RETRIES = 20
QUEUED_IN_DEAD_KERNEL = (
    "it was still waiting to start when the kernel that queued it exited, and it was queued "
    "by a clusterlab without this machine's host queue (local_queue); submit it again"
)


def _alive(pid: int, job_dir: str, command: bytes = b"runner.py") -> bool:
    """Is the runner (or the job's shell) of an earlier kernel still running? A reused pid
    is told apart by the process's command and working directory (this job's dir or its
    ``work/``)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc: trust the pid
    try:
        cmdline = (proc / "cmdline").read_bytes()
        for _ in range(EMPTY_CMDLINE_RETRIES):  # empty for a moment while it execs
            if cmdline:
                break
            time.sleep(0.01)
            cmdline = (proc / "cmdline").read_bytes()
        runner = command in cmdline
        cwd = os.path.realpath(proc / "cwd")  # work/, or the job dir just before chdir
        here = cwd in (os.path.realpath(job_dir), os.path.realpath(Path(job_dir) / jobdir.WORK))
    except OSError:
        return False
    return runner and here


def owner_alive(native_id: str) -> bool:
    """Local ids are ``PID.N``: is the kernel that queued the job still running?"""
    pid = native_id.partition(".")[0]
    return pid.isdigit() and pid_alive(int(pid))


def _launched(job_dir: str, suffix: str) -> bool:
    """Was the job's shell started and is it still running? Between the start of
    ``job.sh`` and the runner's first status line, this file is the only sign of life: a
    kernel that died in that moment must not leave its running job called LOST."""
    try:
        pid = int((Path(job_dir) / f"{LAUNCHED}{suffix}").read_text())
    except (OSError, ValueError):
        return False
    return _alive(pid, job_dir, b"job.sh")


def orphan_observation(
    status: bytes | None, native_id: str, job_dir: str, suffix: str = ""
) -> Observation:
    """A job of another process: running while its runner lives, else settled by file.
    One that never started is still queued while its kernel lives, and LOST for sure once
    that kernel is gone (the local queue lives in the kernel that submitted)."""
    info = parse_status(status)
    if info.finished is None and info.pid and _alive(info.pid, job_dir):
        return Observation(JobState.RUNNING, status=status)
    if status is None and _launched(job_dir, suffix):
        return Observation(JobState.RUNNING, "starting", status=status)
    if status is None:
        if owner_alive(native_id):
            return Observation(JobState.PENDING, "queued by another kernel on this machine")
        return Observation(JobState.LOST, QUEUED_IN_DEAD_KERNEL)
    return Observation(None, status=status)


def orphan_array(files: dict[str, bytes], native_id: str, job_dir: str) -> Observation:
    """An array of another process: each task that started (a ``launched.N`` or a status
    file) as :func:`orphan_observation` says; tasks with neither never started and take
    the array's own view (queued while that kernel lives, else LOST)."""
    started = {
        int(p.name.partition(".")[2])
        for p in Path(job_dir).glob(f"{LAUNCHED}.*")
        if p.name.partition(".")[2].isdigit()
    }
    started |= {int(n.partition(".")[2]) for n in files if n.partition(".")[2].isdigit()}
    tasks = {
        i: orphan_observation(files.get(f"status.{i}"), native_id, job_dir, f".{i}")
        for i in started
    }
    unlisted = orphan_observation(None, native_id, job_dir)
    return Observation(unlisted.state, unlisted.reason, tasks=task_observations(files, tasks))


def kill_orphans(job_dir: str, task: str) -> None:
    """Stop the runners of a job an earlier kernel started (each leads its own session)."""
    names = (
        [f"status.{task}"]
        if task
        else ["status", *[p.name for p in Path(job_dir).glob("status.*")]]
    )
    for name in names:
        try:
            info = parse_status((Path(job_dir) / name).read_bytes())
        except FileNotFoundError:
            continue
        if info.finished is None and info.pid and _alive(info.pid, job_dir):
            with contextlib.suppress(ProcessLookupError):
                # the job's shell leads the session; the runner is its child
                os.killpg(os.getpgid(info.pid), signal.SIGTERM)
