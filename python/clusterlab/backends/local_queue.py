"""The local scheduler's durable queue: every local job is also spooled in this machine's
per-user host queue (:mod:`clusterlab.remote.hostqueue`, the ``direct`` scheduler's), held
there for the kernel that submitted it.

Why: the kernel runs its jobs itself (fast, and it sees them end), but a job still waiting
for a slot or a dependency lived only in that kernel, so a killed kernel lost it. The host
queue's dispatcher, a process of its own, takes such jobs over once their kernel is gone:
it adopts the tasks the kernel started and starts the rest in their turn. What the kernel
did is written where the dispatcher reads it: ``queue.json`` (with the owner), and a
``qstate`` line as each task is claimed, starts and ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..common.errors import SubmitError
from ..common.states import JobState
from ..remote import hostqueue
from .base import JobSpec, Observation
from .direct_status import active, observe

STALE_SECONDS = 15.0  # a heartbeat this old while work is queued: start the dispatcher again
_OWNER = {
    "pid": os.getpid(),
    "ticks": (hostqueue.proc_stat(os.getpid()) or (0, 0))[1],
    "boot": hostqueue.BOOT,
}
_started: dict[str, float] = {}  # queue dir -> when this process last started a dispatcher


def queue_dir(job_dir: str) -> Path:
    """``<root>/queue/<host>`` for a job dir ``<root>/jobs/<id>`` (as the dispatcher
    expects: it finds the jobs beside its queue)."""
    return Path(job_dir).parent.parent / "queue" / os.uname().nodename


def spec(
    job_dir: str, tasks: int, throttle: int, after: list[str], limit: int, time_s: int
) -> bytes:
    """``queue.json`` for a local job: the owner is this kernel (see the module's docstring)."""
    entry = {
        "v": 1,
        "native": Path(job_dir).name,
        "tasks": tasks,
        "throttle": throttle,
        "after": after,
        "limit": limit,
        "time": time_s,
        "host": os.uname().nodename,
        "owner": _OWNER,
    }
    return (json.dumps(entry) + "\n").encode()


def spec_of(job: JobSpec, slots: int, spooled: Mapping[str, tuple[str, str]]) -> bytes:
    """:func:`spec` for a job the local backend submits (``slots``: its limit)."""
    return spec(
        job.job_dir,
        job.array.tasks if job.array else 0,
        (job.array.max_concurrent or 0) if job.array else 0,
        [dependency(dep, spooled) for dep in job.after],
        slots,
        job.resources.time_s or 0,
    )


def started(job_dir: str, index: int, pid: int) -> None:
    """The kernel started task ``index`` as ``pid``: a dispatcher taking over adopts it."""
    ticks = (hostqueue.proc_stat(pid) or (0, 0))[1]
    record(job_dir, task=index, event="running", pid=pid, ticks=ticks, boot=hostqueue.BOOT)


def dependency(native: str, spooled: Mapping[str, tuple[str, str]]) -> str:
    """A dependency as the host queue names it: its job dir's name (``_T`` for a task);
    one of another kernel stays as it is, unknown there (it fails, as in the kernel).
    ``spooled`` maps this kernel's native ids to (job dir, spool entry)."""
    base, sep, task = native.partition("_")
    known = spooled.get(base)
    return f"{Path(known[0]).name}{sep}{task}" if known else native


def spool(job_dir: str) -> str:
    """Put the staged job in the queue (atomically) and make sure a dispatcher runs;
    returns the spool entry's name (taken out by :func:`unspool` when the job ends)."""
    try:
        return _spool(job_dir)
    except OSError as exc:
        raise SubmitError(
            f"could not queue {job_dir} in this machine's job queue: {exc}. Free disk "
            "space or fix the permissions of clusterlab's data directory."
        ) from exc


def _spool(job_dir: str) -> str:
    q = queue_dir(job_dir)
    (q / hostqueue.SPOOL).mkdir(parents=True, exist_ok=True, mode=0o700)
    for d in (q.parent, q, q / hostqueue.SPOOL):
        d.chmod(0o700)
    name = f"{time.time_ns():020d}-{Path(job_dir).name}"
    tmp = q / hostqueue.SPOOL / f".{name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(job_dir + "\n")
    os.replace(tmp, q / hostqueue.SPOOL / name)
    wake(q)
    return name


def unspool(job_dir: str, name: str) -> None:
    """The kernel ran the job to its end: nothing is left for the dispatcher to take over."""
    with contextlib.suppress(FileNotFoundError):
        (queue_dir(job_dir) / hostqueue.SPOOL / name).unlink()


def wake(q: Path) -> None:
    """Nudge the dispatcher of ``q`` (SIGURG), or start one when none holds its lock."""
    lock = os.open(q / hostqueue.LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # one runs
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((q / hostqueue.PID).read_text()), signal.SIGURG)
            return
        fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        os.close(lock)
    log = os.open(q / hostqueue.LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        subprocess.Popen(  # its own session: it outlives this kernel by design
            [sys.executable, hostqueue.__file__, "serve", str(q)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(log)
    _started[str(q)] = time.monotonic()


def record(job_dir: str, **rec: Any) -> None:
    """A ``qstate`` line (claimed, running, ended), read by a dispatcher taking over."""
    rec["time"] = time.time()
    with contextlib.suppress(OSError), open(Path(job_dir) / hostqueue.STATE, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def record_end(job_dir: str, index: int, state: JobState, code: int | None, reason: str) -> None:
    """How a task the kernel ran ended (its process's exit code, None if none started),
    for the host queue: it judges ``afterok`` dependencies by it once the kernel is gone."""
    code = 128 - code if code is not None and code < 0 else code
    flags: dict[str, object] = {}
    if state == JobState.CANCELLED:
        flags["cancelled"] = True
    elif state == JobState.TIMEOUT:
        flags["timeout"] = True
    elif state == JobState.FAILED and code is None:
        flags["error"] = reason
    elif not state.finished:
        return  # the kernel's loop stopped under it (close()): the host queue takes it over
    ok = state == JobState.COMPLETED
    record(job_dir, task=index, event="ended", code=code, ok=ok, **flags)


def spooled(job_dir: str) -> bool:
    """Was this job put in the durable queue (by a clusterlab that has one)?"""
    return (Path(job_dir) / hostqueue.SPEC).is_file()


def taken_over(job_dir: str, is_array: bool) -> Observation:
    """A spooled job whose kernel is gone, as the host queue's files tell it; a dispatcher
    that should run but does not beat is started again (it adopts what still runs)."""
    d = Path(job_dir)
    names = ("queue.json", "qstate", "qwait", "cancel")
    files = {n: (d / n).read_bytes() for n in names if (d / n).is_file()}
    for p in d.glob("status*"):
        files[p.name] = p.read_bytes()
    for p in d.glob("cancel.*"):
        files[p.name] = b""
    q = queue_dir(job_dir)
    beat: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        beat = json.loads((q / hostqueue.ALIVE).read_text())
    when = float(beat.get("time") or 0) if isinstance(beat, dict) else 0.0
    woken = time.monotonic() - _started.get(str(q), float("-inf")) < STALE_SECONDS
    stale = time.time() - when > STALE_SECONDS and not woken
    running = int(beat.get("running") or 0) if isinstance(beat, dict) and not stale else 0
    entries = [n for n in os.listdir(q / hostqueue.SPOOL) if not n.startswith(".")]
    queued = any(n.partition("-")[2] == d.name for n in entries)
    obs = observe(files, is_array, running, stale, queued)
    if stale and active(obs) and entries:
        wake(q)
    if not d.is_dir():
        for seen in (obs, *obs.tasks.values()):
            seen.dir_missing = True
    return obs
