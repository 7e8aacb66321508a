"""The job runner: runs on the cluster with only the standard library and cloudpickle.

Usage: ``python runner.py JOB_DIR`` for one call, ``python runner.py JOB_DIR TASK`` for task
TASK of an array. It is copied into every job dir, so it must not import clusterlab.

It records the job's life in ``status`` (``status.TASK`` for an array task; one JSON object
per line: started, heartbeat, item-started/item-finished, finished) and leaves each outcome
in ``result.pkl`` (``results/INDEX.pkl`` per array item), written to a temp file and renamed
so a reader never sees half a result. ``finished`` lines carry ``usage`` (seconds, CPU
seconds, peak RSS bytes), item lines where the item's output lies in the task's shared
stdout/stderr (``out``/``err``: start offset; ``[start, end]`` when finished):

- ``("ok", value)``
- ``("error", {"type", "message", "traceback", "exception"})`` where ``exception`` is the
  cloudpickled exception object, or None when it cannot be pickled.
- ``("env_error", message)`` when this machine lacks something (cloudpickle, a module);
  the message is also in the ``finished`` status line.

Pool mode (``pool.json``, from ``map(items, workers=K)``): each of the K array tasks is a
worker that claims items with ``O_EXCL`` files in ``claims/`` (atomic on local and NFS file
systems), walks its own share (``items/W.pkl``) forward, then steals from the ends of other
shares. Workers touch ``workers/W`` every second; an item whose worker stopped is retried
once by an idle worker (``claims/I.retry``). One idle worker (the ``keeper``) stays until
every item has a result; the others leave. ``cancelled`` claims (written by the kernel)
are never started.

A call's arguments may name results of earlier jobs (``refs``: argument position or
keyword -> result file path(s)); they are loaded here, so data passed from job to job never
travels through the notebook.

The exit code is 0 on success and 1 when the function raised, so schedulers that record
exit codes agree with the result file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import resource
import signal
import socket
import stat
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

HEARTBEAT_SECONDS = 30.0
POOL_HEARTBEAT_SECONDS = 1.0  # a pool worker touches workers/W this often
POOL_STALE_SECONDS = 10.0  # ...and is taken for dead when it has not for this long
POOL_IDLE_SECONDS = 0.5  # how often the keeper looks for items to retry
CANCELLED = "cancelled"  # a claim the kernel wrote: no worker may run the item

# The job-dir contract as the runner knows it. The kernel's copy is clusterlab/common/
# jobdir.py; tests/unit/test_jobdir_contract.py proves that the two agree.
STATUS, RESULT, RESULTS, ITEMS = "status", "result.pkl", "results", "items"
PAYLOAD, FUNCTION, POOL, CLAIMS, WORKERS = "payload.pkl", "fn.pkl", "pool.json", "claims", "workers"
WORK = "work"  # user code runs here (or in $CLUSTERLAB_WORKDIR), never among our own files
WORKDIR_VAR = "CLUSTERLAB_WORKDIR"
JOB_DIR_GONE = 97  # exit code: the job dir was deleted (as job.sh's failed cd)
ITEM_DIRS_VAR = "CLUSTERLAB_ITEM_DIRS"  # a map with outputs=: each item in its own dir
_OUTCOME = {True: "ok", False: "error"}


class _Job:
    """Where this run writes: its status file and its result files."""

    def __init__(self, job_dir: str, task: str | None) -> None:
        self.dir = job_dir
        self.task = task
        self.status_path = os.path.join(job_dir, STATUS if task is None else f"{STATUS}.{task}")
        self._fd: int | None = None
        self.clock = time.monotonic()

    def status(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **fields}
        line = json.dumps(record) + "\n"
        # One short O_APPEND write per line: readers see whole lines or nothing new. The
        # file stays open (two events per array item would otherwise be two opens each).
        if self._fd is None:
            self._fd = os.open(self.status_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, line.encode())

    def env_error(self, message: str) -> int:
        if self.task is None:
            _write_result(os.path.join(self.dir, RESULT), ("env_error", message), pickle.dumps)
        self.status("finished", outcome="env_error", message=message)
        return 2


def _write_result(path: str, outcome: Any, dumps: Callable[[Any], bytes], sync: bool = True) -> str:
    """Temp file (unique across nodes) + rename: readers never see half a result; returns
    its sha256, which the status line carries so the kernel refuses a corrupted file.
    ``sync`` (file and directory) also survives a crash of the node; array items skip it,
    as it cost ~1 ms per item and a lost item can be rerun."""
    data = dumps(outcome)
    tmp = f"{path}.tmp.{socket.gethostname()}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if sync:
        dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
        os.close(dir_fd)
    return hashlib.sha256(data).hexdigest()


def _usage(since: float, cpu_before: float = 0.0) -> dict[str, Any]:
    """Seconds and CPU seconds since then, and the peak RSS in bytes of this process and of
    the children it waited for (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    me, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime - cpu_before
    rss = max(me.ru_maxrss, kids.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)
    return {"elapsed": time.monotonic() - since, "cpu_time": cpu, "max_rss": rss}


def _log_ends() -> dict[str, int]:
    """Where stdout and stderr end now, Python's buffers flushed: an item's output lies
    between two such marks whatever wrote it (print, os.write, a subprocess). A terminal or a
    pipe has no end (no marks: the kernel shows the whole log)."""
    ends = {}
    for key, fd, name in (("out", 1, "stdout"), ("err", 2, "stderr")):
        for stream in (getattr(sys, name), getattr(sys, f"__{name}__")):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                ends[key] = info.st_size
    return ends


def _enter_item_dir(index: int) -> str:
    """A map with ``outputs=``: the item runs in ``<dir>/<index>`` (named by the kernel) with
    the input files linked in, so items writing one name keep their own copy. -> old cwd"""
    home, spec = os.getcwd(), json.loads(os.environ.get(ITEM_DIRS_VAR) or "{}")
    if spec:
        here = os.path.join(spec["dir"], str(index))
        for name in ["", *spec["inputs"]]:  # "": the item's dir itself
            link = os.path.join(here, name)
            os.makedirs(os.path.dirname(link), mode=0o700, exist_ok=True)
            if name and not os.path.lexists(link):
                os.symlink(os.path.join(home, name), link)
        os.chdir(here)
    return home


class _Item:
    """One item's stretch of its task: ``item-started`` now; ``item-finished`` (where its
    output lies in the task's log files, what it used) when :meth:`finished`."""

    def __init__(self, job: _Job, index: int, **fields: Any) -> None:
        self.job, self.index, self.clock = job, index, time.monotonic()
        self.logs, self.cpu = _log_ends(), _usage(0.0)["cpu_time"]
        job.status("item-started", index=index, **self.logs, **fields)
        self.home = _enter_item_dir(index)

    def finished(self, **fields: Any) -> None:
        os.chdir(self.home)
        ends, usage = _log_ends(), _usage(self.clock, self.cpu)
        logs = {k: [start, ends[k]] for k, start in self.logs.items() if k in ends}
        self.job.status("item-finished", index=self.index, usage=usage, **logs, **fields)


def _signalled(job: _Job, signum: int) -> None:
    """Cancelled, preempted or at the time limit: record it (a later kernel settles the job
    by this line when the scheduler has forgotten it), then die of the signal as before."""
    job.status("exit", code=128 + signum, signal=signal.Signals(signum).name[3:])
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _heartbeat(job: _Job, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        job.status("heartbeat")


def _user_frames(tb: Any) -> Any:
    """``tb`` without the runner's frames and those that set ``__tracebackhide__`` (as
    IPython and pytest read it; the %%cluster cell runner sets it): the user's frames."""
    kept: list[Any] = []
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename != __file__ and not frame.f_locals.get("__tracebackhide__"):
            kept.append(tb)
        tb = tb.tb_next
    for old in reversed(kept):
        tb = types.TracebackType(tb, old.tb_frame, old.tb_lasti, old.tb_lineno)
    return tb


def _error_record(exc: BaseException, dumps: Callable[[Any], bytes]) -> dict[str, Any]:
    with contextlib.suppress(Exception):  # a traceback with extra frames beats no result
        exc.__traceback__ = _user_frames(exc.__traceback__)
    tb_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickled = dumps(exc)
    except Exception:
        pickled = None
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc),
        "traceback": tb_text,
        "exception": pickled,
    }


def _load_ref(ref: dict[str, Any], loads: Callable[[bytes], Any]) -> Any:
    """The value of an earlier job's result file (a list for a whole array)."""
    if "paths" in ref:
        return [_load_ref({"path": p}, loads) for p in ref["paths"]]
    try:
        with open(ref["path"], "rb") as fh:
            kind, value = loads(fh.read())
    except OSError as exc:
        if ref.get("blob"):
            raise RuntimeError(
                f"a large argument of this job is missing on the cluster ({exc}): its stored "
                "copy was deleted; submit the job again and it is uploaded again"
            ) from None
        raise RuntimeError(f"the result of an earlier job is missing ({exc})") from None
    if kind != "ok":
        raise RuntimeError(f"an earlier job this one uses did not succeed ({ref['path']})")
    return value


def _call(
    fn: Callable[..., Any],
    args: Any,
    kwargs: Any,
    refs: dict[str, Any],
    result_path: str,
    cloudpickle: Any,
    sync: bool = True,
) -> tuple[bool, str]:
    """Run one call and write its result file; (True on success, the file's sha256)."""
    try:
        args, kwargs = list(args), dict(kwargs)
        for pos, ref in refs.get("args", {}).items():
            args[int(pos)] = _load_ref(ref, cloudpickle.loads)
        for name, ref in refs.get("kwargs", {}).items():
            kwargs[name] = _load_ref(ref, cloudpickle.loads)
        value = fn(*args, **kwargs)
    except BaseException as exc:  # the user's exception, whatever it is, goes back
        sys.stdout.flush()
        record = _error_record(exc, cloudpickle.dumps)
        return False, _write_result(result_path, ("error", record), cloudpickle.dumps, sync)
    sys.stdout.flush()
    try:
        return True, _write_result(result_path, ("ok", value), cloudpickle.dumps, sync)
    except Exception as exc:
        err = TypeError(
            f"the result of the function ({type(value).__name__}) could not be pickled to "
            f"send it back: {exc}. Return plain data (numbers, arrays, dicts) or save it "
            "to a file and return the path."
        )
        record = _error_record(err, cloudpickle.dumps)
        return False, _write_result(result_path, ("error", record), cloudpickle.dumps, sync)


class _Pool:
    """One worker of a pool: claims items one at a time and runs them (see module doc)."""

    def __init__(self, job: _Job, fn: Any, cloudpickle: Any, shares: list[list[int]]) -> None:
        self.job = job
        self.fn = fn
        self.cloudpickle = cloudpickle
        self.me = str(job.task)
        self.shares = shares
        self.own = shares[int(self.me)] if int(self.me) < len(shares) else []
        self.share_of = {i: s for s, indices in enumerate(shares) for i in indices}
        self.all = sorted(self.share_of)
        self.loaded: dict[int, dict[int, Any]] = {}
        self.claims = os.path.join(job.dir, CLAIMS)
        self.results = os.path.join(job.dir, RESULTS)
        self.beat_path = os.path.join(job.dir, WORKERS, self.me)
        self.stopping = threading.Event()
        self.all_ok = True

    # -- liveness ---------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        with open(self.beat_path, "w"):
            pass

        def beat() -> None:
            while not self.stopping.wait(POOL_HEARTBEAT_SECONDS):
                try:
                    os.utime(self.beat_path)
                except OSError:
                    return

        threading.Thread(target=beat, daemon=True).start()

        def on_term(signum: int, frame: Any) -> None:
            # Killed (scancel, preemption): say so at once, so an idle worker retries the
            # item now instead of after POOL_STALE_SECONDS.
            self.stopping.set()
            with contextlib.suppress(OSError):
                os.unlink(self.beat_path)
            self.job.status("stopped", signal=signum)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        signal.signal(signal.SIGTERM, on_term)

    def alive(self, worker: str) -> bool:
        if worker in (self.me, ""):
            return True  # "" : a claim being written right now
        try:
            age = time.time() - os.stat(os.path.join(self.job.dir, WORKERS, worker)).st_mtime
        except OSError:
            return False
        return age < POOL_STALE_SECONDS

    # -- claims -----------------------------------------------------------------------------
    def claim(self, name: str) -> bool:
        try:
            fd = os.open(
                os.path.join(self.claims, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError:
            return False
        try:
            os.write(fd, self.me.encode())
        finally:
            os.close(fd)
        return True

    def owner(self, name: str) -> str:
        try:
            with open(os.path.join(self.claims, name)) as fh:
                return fh.read().strip()
        except OSError:
            return ""

    def keep_watch(self) -> bool:
        """Become (or stay) the one idle worker that waits for retries; False: leave."""
        if self.claim("keeper"):
            return True
        keeper = self.owner("keeper")
        if keeper == self.me or self.alive(keeper):
            return keeper == self.me
        tmp = os.path.join(self.claims, f".keeper.{self.me}")
        with open(tmp, "w") as fh:
            fh.write(self.me)
        os.replace(tmp, os.path.join(self.claims, "keeper"))
        return True

    # -- running ----------------------------------------------------------------------------
    def call(self, index: int) -> Any:
        share = self.share_of[index]
        if share not in self.loaded:
            with open(os.path.join(self.job.dir, ITEMS, f"{share}.pkl"), "rb") as fh:
                self.loaded[share] = {c[0]: c for c in self.cloudpickle.load(fh)}
        return self.loaded[share][index]

    def run(self, index: int, attempt: int) -> None:
        item = _Item(self.job, index, attempt=attempt)
        path = os.path.join(self.results, f"{index}.pkl")
        try:
            _, args, kwargs, refs = self.call(index)
        except Exception as exc:
            err = RuntimeError(_load_message(exc))
            ok = False
            digest = _write_result(path, ("error", _error_record(err, pickle.dumps)), pickle.dumps)
        else:
            ok, digest = _call(self.fn, args, kwargs, refs, path, self.cloudpickle, sync=False)
        item.finished(outcome=_OUTCOME[ok], sha256=digest)
        self.all_ok = self.all_ok and ok

    def give_up(self, index: int) -> None:
        """Both attempts' workers stopped: the item fails with a sentence, not silence."""
        err = RuntimeError(
            f"item {index} was started twice and both times its worker stopped before it "
            "finished (killed, out of memory, or its node failed): see the workers' stderr"
        )
        path = os.path.join(self.results, f"{index}.pkl")
        record = _error_record(err, self.cloudpickle.dumps)
        _write_result(path, ("error", record), self.cloudpickle.dumps)
        self.job.status("item-finished", index=index, outcome="error", gave_up=True)
        self.all_ok = False

    def work(self) -> bool:
        for index in self.own:  # forward; a failed claim means thieves took the rest
            if self.stopping.is_set() or not self.claim(str(index)):
                break
            self.run(index, 1)
        while not self.stopping.is_set():
            claimed = set(os.listdir(self.claims))
            took = False
            for index in reversed(self.all):  # steal from the ends of the shares
                if str(index) not in claimed and self.claim(str(index)):
                    self.run(index, 1)
                    took = True
            if took:
                continue
            done = {n[:-4] for n in os.listdir(self.results) if n.endswith(".pkl")}
            waiting = False
            for index in self.all:
                if str(index) in done or self.owner(str(index)) == CANCELLED:
                    continue
                retry = f"{index}.retry"
                if retry in claimed:
                    second = self.owner(retry)
                    if second == CANCELLED:
                        continue  # the kernel stopped caring about it
                    if not self.alive(second):
                        self.give_up(index)
                    else:
                        waiting = True
                elif not self.alive(self.owner(str(index))) and self.claim(retry):
                    self.run(index, 2)
                    took = True
                else:
                    waiting = True
            if took:
                continue
            if not waiting or not self.keep_watch():
                break
            time.sleep(POOL_IDLE_SECONDS)
        return self.all_ok


def _load_message(exc: BaseException) -> str:
    return (
        f"the job's function or arguments could not be loaded on {socket.gethostname()} "
        f"({type(exc).__name__}: {exc}). A module your function uses is probably missing "
        f"in {sys.executable}: install it there."
    )


def main(job_dir: str, task: str | None = None) -> int:
    job = _Job(job_dir, task)
    job.status(
        "started",
        host=socket.gethostname(),
        pid=os.getpid(),
        python=sys.version.split()[0],
    )
    try:
        import cloudpickle
    except ImportError:
        return job.env_error(
            f"cloudpickle is not installed for {sys.executable} on {socket.gethostname()}: "
            f"run `{sys.executable} -m pip install --user cloudpickle` there (or point the "
            "profile's python at an environment that has it)"
        )
    signal.signal(signal.SIGTERM, lambda signum, _: _signalled(job, signum))
    work = os.environ.get(WORKDIR_VAR)  # the profile's (a project dir, never the job dir)
    if work:
        os.makedirs(work, mode=0o700, exist_ok=True)
    else:
        work = os.path.join(job_dir, WORK)
        try:  # mkdir, not makedirs: a job dir deleted while the job started stays deleted
            os.mkdir(work, 0o700)  # (recreating it made the job's end depend on timing)
        except FileExistsError:
            pass
        except FileNotFoundError:
            sys.stderr.write(f"clusterlab: the job directory {job_dir} is gone; stopping\n")
            return JOB_DIR_GONE
    os.chdir(work)  # the profile's workdir, never among clusterlab's own files
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(job, stop), daemon=True).start()
    try:
        if task is None:
            try:
                with open(os.path.join(job_dir, PAYLOAD), "rb") as fh:
                    fn, args, kwargs, refs = cloudpickle.load(fh)
            except Exception as exc:
                return job.env_error(_load_message(exc))
            ok, digest = _call(fn, args, kwargs, refs, os.path.join(job_dir, RESULT), cloudpickle)
            job.status("finished", outcome=_OUTCOME[ok], sha256=digest, usage=_usage(job.clock))
            return 0 if ok else 1
        pool_path = os.path.join(job_dir, POOL)
        try:
            with open(os.path.join(job_dir, FUNCTION), "rb") as fh:
                fn = cloudpickle.load(fh)
            if os.path.exists(pool_path):
                with open(pool_path) as fh:
                    pool = _Pool(job, fn, cloudpickle, json.load(fh)["shares"])
                if pool.own:  # load its share now: a missing module is an env_error
                    pool.call(pool.own[0])
            else:
                with open(os.path.join(job_dir, ITEMS, f"{task}.pkl"), "rb") as fh:
                    items = cloudpickle.load(fh)
        except Exception as exc:
            return job.env_error(_load_message(exc))
        if os.path.exists(pool_path):
            pool.start_heartbeat()
            ok = pool.work()
            job.status("finished", outcome=_OUTCOME[ok], usage=_usage(job.clock))
            return 0 if ok else 1
        all_ok = True
        for index, args, kwargs, refs in items:
            item = _Item(job, index)
            path = os.path.join(job_dir, RESULTS, f"{index}.pkl")
            ok, digest = _call(fn, args, kwargs, refs, path, cloudpickle, sync=False)
            item.finished(outcome=_OUTCOME[ok], sha256=digest)
            all_ok = all_ok and ok
        job.status("finished", outcome=_OUTCOME[all_ok], usage=_usage(job.clock))
        return 0 if all_ok else 1
    finally:
        stop.set()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
