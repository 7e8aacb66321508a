"""The host queue of the ``direct`` scheduler (no batch system), stdlib only: installed as
``<remote_dir>/queue/hostq-<sha>.py`` and started as ``python hostq-<sha>.py serve QDIR``
(QDIR: ``<remote_dir>/queue/<host>``, the queue of the host it runs on, which it checks)
when none runs, it takes its own session and ``QDIR/lock`` (flock: one per user, host and
remote_dir), starts spooled jobs in order while fewer than their ``limit`` run, and exits
when the spool is empty. The queue is files on the host (see docs/direct.md), so jobs
survive the kernel, the connection and the dispatcher (a new one adopts running jobs).

The ``local`` scheduler spools its jobs here too, with an ``owner`` (the kernel that runs
them itself while it lives): such a job is *held* until that kernel is gone, then taken over
(tasks the kernel started are adopted, the rest start here), so a job still queued in a
killed kernel runs anyway."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from typing import Any

TASK_VAR = "CLUSTERLAB_TASK"
SPEC, STATE, WAIT, CANCEL = "queue.json", "qstate", "qwait", "cancel"
SPOOL, LOCK, PID, ALIVE, LOG = "spool", "lock", "pid", "alive", "dispatcher.log"
TIMEOUT_EXIT = 124  # coreutils timeout in job.sh: the job reached its time limit
KILL_GRACE = 2.0  # SIGTERM, then SIGKILL this much later
BUSY_TICK, IDLE_TICK = 0.05, 1.0
HEARTBEAT = RESCAN = 2.0  # the heartbeat is written, cancel markers looked for, this often
HAVE_PROC = os.path.isdir("/proc/self")
LOG_MAX, LOG_KEEP = 1024 * 1024, 256 * 1024  # dispatcher.log: cut to its last 256 KiB at 1 MiB
REBOOTED, UNWATCHED = "the host restarted while it ran", "it ended unwatched, not saying how"


def _read(path: str) -> bytes:
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        return fh.read()
    return b""


def _quietly(fn: object, *args: object) -> None:
    with contextlib.suppress(OSError):  # best effort: a file or process that is gone
        fn(*args)  # type: ignore[operator]


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def records(data: bytes) -> list[dict[str, Any]]:
    """The JSON-object lines of a file; anything else (a torn last line) is skipped."""
    out = []
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return [rec for rec in out if isinstance(rec, dict)]


BOOT = _read("/proc/sys/kernel/random/boot_id").decode().strip()


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(session id, start time in clock ticks) of a process, from /proc; None if gone."""
    try:
        fields = _read(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()
        return (int(fields[3]), int(fields[19])) if fields[0] != b"Z" else None  # Z: ended
    except (IndexError, ValueError):
        return None


def alive(pid: int, ticks: int, boot: str) -> bool:
    """Is this the process we started (not a reused pid, not from before a reboot)?"""
    if boot != BOOT:
        return False
    if not HAVE_PROC:  # macOS: the pid alone
        with contextlib.suppress(OSError):
            os.kill(pid, 0)
            return True
        return False
    st = proc_stat(pid)
    return st is not None and (not ticks or st[1] == ticks)


def kill_session(sid: int, sig: int) -> None:
    """Signal every process of a job's session: its shell's group, the group coreutils
    ``timeout`` makes for the runner, and any children they started."""
    pids = [int(n) for n in os.listdir("/proc") if n.isdigit()] if HAVE_PROC else []
    for pid in [p for p in pids if (proc_stat(p) or (0,))[0] == sid]:
        _quietly(os.kill, pid, sig)
    _quietly(os.killpg, sid, sig)


def _code(value: object) -> int | None:
    """An exit code from a status line, or None for anything else ("x", null, 1e999, a
    bool): the file is in the job's directory, where the job's own code can write."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
        return value
    return None


def exit_code(path: str) -> int | None:
    """How a job script saw its runner end (its "exit" line in the status file at
    ``path``), else the runner's own verdict; None when the file says neither. A malformed
    line is skipped, never fatal: a dispatcher that died on it would die again on every
    revival, and no job of its remote_dir would start."""
    code = None
    for rec in records(_read(path)):
        if rec.get("event") == "exit" and _code(rec.get("code", -1)) is not None:
            code = _code(rec.get("code", -1))
        elif rec.get("event") == "finished" and code is None:
            code = 0 if rec.get("outcome") == "ok" else 1
    return code


class Run:
    """A started task: our child (``proc``), or one adopted from an earlier dispatcher."""

    def __init__(self, pid: int, ticks: int, boot: str, proc: object = None) -> None:
        self.pid, self.ticks, self.boot, self.proc, self.cancelled = pid, ticks, boot, proc, False


class Job:
    """One spooled job (or array): its spec, and what its qstate file says so far."""

    def __init__(self, directory: str) -> None:
        spec = json.loads(_read(os.path.join(directory, SPEC)))
        self.dir, self.native = directory, str(spec["native"])
        self.indices = list(range(int(spec.get("tasks") or 0))) or [-1]
        self.throttle, self.limit = int(spec.get("throttle") or 0), int(spec.get("limit") or 0)
        self.after = [str(a) for a in spec.get("after") or []]
        self.time = int(spec.get("time") or 0)
        self.running: dict[int, Run] = {}
        self.ended: dict[int, bool] = {}  # task -> succeeded
        self.whole = self.gone = False  # all unstarted tasks ended; its job dir was deleted
        self.next = 0  # position in indices of the next task to consider
        self.wait: object = ()  # unknown: the first set_wait writes or removes the file
        owner = spec.get("owner")  # the local kernel that runs it while it lives
        self.owner = (
            (int(owner["pid"]), int(owner.get("ticks") or 0), str(owner.get("boot") or ""))
            if isinstance(owner, dict)
            else None
        )
        self.claimed: set[int] = set()  # tasks the owner was about to start
        for rec in records(_read(os.path.join(directory, STATE))):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                task, event = rec["task"], rec["event"]
                if task is None and event == "ended":
                    self.whole = True
                elif event == "claimed":
                    self.claimed.add(int(task))
                elif event == "running":
                    self.running[int(task)] = Run(int(rec["pid"]), rec["ticks"], rec["boot"])
                elif event == "ended":
                    self.running.pop(int(task), None)
                    self.ended[int(task)] = bool(rec.get("ok"))

    def record(self, **rec: object) -> None:
        rec["time"] = time.time()
        try:  # one short append per line: readers see whole lines
            with open(os.path.join(self.dir, STATE), "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        except OSError:
            self.gone = not os.path.isdir(self.dir)

    def finish(self, task: int, code: int | None, **extra: object) -> None:
        ok = code == 0 and not extra
        self.running.pop(task, None)
        self.ended[task] = ok
        self.record(task=task, event="ended", code=code, ok=ok, **extra)

    def next_task(self) -> int | None:
        while self.next < len(self.indices):
            task = self.indices[self.next]
            if task not in self.ended and task not in self.running:
                return task
            self.next += 1
        return None

    def marked(self, task: int) -> bool:
        names = [CANCEL] + ([f"{CANCEL}.{task}"] if task >= 0 else [])
        return any(os.path.exists(os.path.join(self.dir, n)) for n in names)

    @property
    def done(self) -> bool:
        ended = self.whole or self.gone or len(self.ended) >= len(self.indices)
        return ended and not self.running

    def outcome(self, task: int | None) -> str:
        """For jobs waiting on this one (afterok): "ok", "failed" or "wait"."""
        tasks = self.indices if task is None else [task]
        if any(t not in self.indices or self.ended.get(t) is False for t in tasks):
            return "failed"
        if all(self.ended.get(t) for t in tasks):
            return "ok"
        never = [t for t in tasks if t not in self.ended and t not in self.running]
        return "failed" if never and (self.whole or self.gone) else "wait"

    def set_wait(self, wait: object) -> None:
        if wait != self.wait:
            self.wait, path = wait, os.path.join(self.dir, WAIT)
            if wait is None:
                _quietly(os.unlink, path)
            else:
                _quietly(_write_atomic, path, json.dumps(wait) + "\n")


def _started_here(job_dir: str, task: int) -> int | None:
    """A process of this job's task still running (its shell in the job dir, or the runner
    in ``work/``): found by working directory and task variable in /proc."""
    if not HAVE_PROC:
        return None
    here = {os.path.realpath(job_dir), os.path.realpath(os.path.join(job_dir, "work"))}
    want = f"{TASK_VAR}={task}".encode() if task >= 0 else None
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.path.realpath(f"/proc/{name}/cwd") not in here:
                continue
            env = _read(f"/proc/{name}/environ").split(b"\0")
        except OSError:
            continue
        tasks = [e for e in env if e.startswith(TASK_VAR.encode() + b"=")]
        if (want is None and not tasks) or (want is not None and want in tasks):
            return int(name)
    return None


def adopt_claimed(job: Job) -> None:
    """Tasks the owner claimed but never recorded as running (it died between starting
    the shell and writing the record): adopt the process if it still runs, settle by the
    status file if it ran, else leave the task to start here. Never start one twice."""
    for task in sorted(job.claimed - set(job.running) - set(job.ended)):
        pid = _started_here(job.dir, task)
        if pid is not None:
            ticks = (proc_stat(pid) or (0, 0))[1]
            job.running[task] = Run(pid, ticks, BOOT)
            job.record(task=task, event="running", pid=pid, ticks=ticks, boot=BOOT)
            continue
        status = os.path.join(job.dir, "status" if task < 0 else f"status.{task}")
        if os.path.exists(status):
            code = exit_code(status)
            job.finish(task, code, **({} if code is not None else {"lost": UNWATCHED}))


class Dispatcher:
    """Starts spooled jobs in order while slots are free; records how each task ended."""

    def __init__(self, qdir: str) -> None:
        self.q, self.spool = qdir, os.path.join(qdir, SPOOL)
        # QDIR is <remote_dir>/queue/<host>: the jobs are in <remote_dir>/jobs
        self.jobs_root = os.path.join(os.path.dirname(os.path.dirname(qdir)), "jobs")
        self.jobs: dict[str, Job] = {}  # spool entry -> job
        self.held: dict[str, Job] = {}  # spool entry -> job its live owner (a kernel) runs
        self.sweeps: list[tuple[int, float]] = []  # (session, when): SIGKILL what is left
        affinity = getattr(os, "sched_getaffinity", None)  # the cores this user may use
        self.cpus = len(affinity(0)) if affinity else os.cpu_count() or 1
        self.spool_mtime, self.last_scan, self.last_beat, self.beat_running = -1, 0.0, 0.0, -1

    def run(self, lock_fd: int, wake_fd: int) -> None:
        tick = BUSY_TICK
        while True:
            changed = self.step()
            if not self.jobs and not self.sweeps and not self.held:
                # The spool is empty: stop. The lock is released before looking again, so a
                # job spooled meanwhile is seen here or by the dispatcher its submit starts.
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                if not [n for n in os.listdir(self.spool) if not n.startswith(".")]:
                    return
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return  # another dispatcher took over
            tick = BUSY_TICK if changed else min(tick * 1.5, IDLE_TICK)
            if select.select([wake_fd], [], [], tick)[0]:
                _quietly(os.read, wake_fd, 4096)

    def step(self) -> bool:
        now, changed = time.time(), False
        mtime = os.stat(self.spool).st_mtime_ns
        if mtime != self.spool_mtime or now - self.last_scan > RESCAN:
            self.spool_mtime, self.last_scan = mtime, now
            changed = self.scan() | self.look_for_cancels(now)
        changed |= self.take_over()
        changed |= self.reap()
        for sid, _ in [s for s in self.sweeps if now >= s[1]]:
            kill_session(sid, signal.SIGKILL)  # what a cancelled job left in its session
        self.sweeps = [s for s in self.sweeps if now < s[1]]
        changed |= self.dispatch()
        for name, job in list(self.jobs.items()):
            if job.done:
                job.set_wait(None)
                del self.jobs[name]
                _quietly(os.unlink, os.path.join(self.spool, name))
        self.heartbeat()
        return changed

    def scan(self) -> bool:
        new = False
        names = sorted(os.listdir(self.spool))
        for name in set(self.held) - set(names):  # its owner finished it and took it out
            del self.held[name]
        for name in names:
            if not name.startswith(".") and name not in self.jobs and name not in self.held:
                path = os.path.join(self.spool, name)
                try:
                    job = Job(_read(path).decode().strip())
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    print(f"dropping spool entry {name}: {exc!r}", file=sys.stderr, flush=True)
                    _quietly(os.unlink, path)
                    continue
                if job.owner is not None:
                    self.held[name] = job
                else:
                    self.jobs[name], new = job, True
        return new

    def take_over(self) -> bool:
        """Held jobs whose owner (a local kernel) is gone become ours: read afresh (the
        owner wrote what it started and ended), the tasks it was starting as it died
        settled (see :func:`adopt_claimed`), the rest queued here in their turn."""
        verdicts: dict[tuple[int, int, str], bool] = {}
        taken = False
        for name, held in sorted(self.held.items()):
            owner = held.owner
            if owner is None:
                continue
            if owner not in verdicts:
                verdicts[owner] = alive(*owner)
            if verdicts[owner]:
                continue
            del self.held[name]
            try:
                job = Job(held.dir)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"dropping spool entry {name}: {exc!r}", file=sys.stderr, flush=True)
                _quietly(os.unlink, os.path.join(self.spool, name))
                continue
            job.owner = None
            adopt_claimed(job)
            self.jobs[name], taken = job, True
        return taken

    def look_for_cancels(self, now: float) -> bool:
        """Stop running tasks the client marked; a marked job never starts another task
        (a marked task of an array ends when its turn comes, see :meth:`start`)."""
        changed = False
        for job in self.jobs.values():
            job.gone = not os.path.isdir(job.dir)
            for task, run in job.running.items():
                if not run.cancelled and job.marked(task):
                    self.stop(run, now)
            if not job.whole and os.path.exists(os.path.join(job.dir, CANCEL)):
                job.whole = True  # every task that never started ends with it
                job.record(task=None, event="ended", cancelled=True)
                changed = True
        return changed

    def stop(self, run: Run, now: float) -> None:
        """SIGTERM to the task's whole session now, SIGKILL to what is left after the grace."""
        run.cancelled = True
        kill_session(run.pid, signal.SIGTERM)
        self.sweeps.append((run.pid, now + KILL_GRACE))

    def reap(self) -> bool:
        changed = False
        for job in self.jobs.values():
            for task, run in list(job.running.items()):
                status = os.path.join(job.dir, "status" if task < 0 else f"status.{task}")
                if run.proc is not None:
                    code = run.proc.poll()  # type: ignore[attr-defined]
                    ended, code = code is not None, 128 - code if code and code < 0 else code
                else:  # adopted: settled by the exit line its job script wrote
                    ended = not alive(run.pid, run.ticks, run.boot)
                    code = exit_code(status) if ended else None
                if not ended:
                    continue
                extra: dict[str, object] = {}
                if run.cancelled:
                    extra["cancelled"] = True
                elif code == TIMEOUT_EXIT and job.time:
                    extra["timeout"] = True
                elif code is None:
                    extra["lost"] = REBOOTED if run.boot != BOOT else UNWATCHED
                job.finish(task, code, **extra)
                changed = True
        return changed

    def dependency(self, job: Job) -> tuple[str, str]:
        """("ok" | "failed" | "wait" | "unknown": not a job of this queue, the dependency)."""
        for native in job.after:
            base, _, task = native.partition("_")
            dep, index = self._find(base), int(task) if task.isdigit() else None
            state = dep.outcome(index) if dep else "unknown"
            if state != "ok":
                return state, native
        return "ok", ""

    def _find(self, native: str) -> Job | None:
        """A spooled job, or one that left the spool, read from its job dir."""
        for job in self.jobs.values():
            if job.native == native:
                return job
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            plain = native == os.path.basename(native) and native.strip(".")  # a dir name
            return Job(os.path.join(self.jobs_root, native)) if plain else None
        return None

    def dispatch(self) -> bool:
        running = sum(len(j.running) for j in self.jobs.values())
        changed = False
        for name in sorted(self.jobs):
            job = self.jobs[name]
            wait: dict[str, Any] | None = None
            if job.whole or job.gone:
                continue
            if job.after:
                state, dep = self.dependency(job)
                if state in ("failed", "unknown"):
                    job.whole = True
                    job.record(task=None, event="ended", dependency=dep, known=state == "failed")
                    changed = True
                    continue
                wait = {"wait": "after", "on": dep} if state == "wait" else None
            while wait is None and (task := job.next_task()) is not None:
                limit = job.limit or self.cpus
                if job.throttle and len(job.running) >= job.throttle:
                    wait = {"wait": "throttle", "limit": job.throttle}
                elif running >= limit:
                    wait = {"wait": "slots", "limit": limit}
                else:
                    running += self.start(job, task)
                    changed = True
            job.set_wait(wait)
        return changed

    def start(self, job: Job, task: int) -> int:
        """Start one task in its own session; 1 if it runs now."""
        if job.marked(task):
            job.finish(task, None, cancelled=True)
            return 0
        suffix = "" if task < 0 else f".{task}"
        env = dict(os.environ, **({TASK_VAR: str(task)} if task >= 0 else {}))
        logs = [os.path.join(job.dir, stream + suffix) for stream in ("stdout", "stderr")]
        try:  # the logs are 0600 (umask 077)
            with open(logs[0], "ab") as out, open(logs[1], "ab") as err:
                proc = subprocess.Popen(
                    ["/bin/sh", "job.sh"], cwd=job.dir, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=err, env=env, start_new_session=True,
                )  # fmt: skip
        except OSError as exc:
            job.finish(task, 127, error=f"could not start the job: {exc}")
            return 0
        ticks = (proc_stat(proc.pid) or (0, 0))[1]
        run = job.running[task] = Run(proc.pid, ticks, BOOT, proc)
        job.record(task=task, event="running", pid=proc.pid, ticks=ticks, boot=BOOT)
        if job.marked(task):  # cancelled while it was being started
            self.stop(run, time.time())
        return 1

    def heartbeat(self) -> None:
        now = time.time()
        running = sum(len(j.running) for j in self.jobs.values())
        if running != self.beat_running or now - self.last_beat >= HEARTBEAT:
            self.beat_running, self.last_beat = running, now
            beat = {"time": now, "pid": os.getpid(), "running": running, "boot": BOOT}
            cut_log(os.path.join(self.q, LOG))
            _quietly(_write_atomic, os.path.join(self.q, ALIVE), json.dumps(beat) + "\n")


def cut_log(path: str) -> None:
    """Keep ``dispatcher.log`` (this dispatcher's stderr, opened for appending by the
    script that started it) under :data:`LOG_MAX`: past it, only its last
    :data:`LOG_KEEP` bytes stay. Cut in place, so the appending writers go on at its end."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_size > LOG_MAX:
                tail = os.pread(fd, LOG_KEEP, st.st_size - LOG_KEEP)
                tail = tail[tail.find(b"\n") + 1 :]  # from a line's start
                os.ftruncate(fd, 0)
                os.pwrite(fd, b"[older lines cut: the log is kept under 1 MiB]\n" + tail, 0)
        finally:
            os.close(fd)


def serve(qdir: str) -> int:
    """The dispatcher: its own session (a login ending does not end it), the lock or leave."""
    qdir = os.path.abspath(qdir)
    host = os.uname().nodename
    if os.path.basename(qdir) != host:  # another host's queue (a shared remote_dir)
        print(f"not serving {qdir}: it is the queue of host {os.path.basename(qdir)!r}, "
              f"and this is {host!r}", file=sys.stderr, flush=True)  # fmt: skip
        return 3
    _quietly(os.setsid)
    os.chdir("/")
    os.umask(0o077)
    cut_log(os.path.join(qdir, LOG))
    lock_fd = os.open(os.path.join(qdir, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # one is running: it sees the new entry
    _write_atomic(os.path.join(qdir, PID), f"{os.getpid()}\n")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    for sig in (signal.SIGCHLD, signal.SIGURG):  # a job ended; a client spooled or cancelled
        signal.signal(sig, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    Dispatcher(qdir).run(lock_fd, wake_r)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: hostq.py serve QUEUE_DIR")
    sys.exit(serve(sys.argv[2]))
