"""The job runner: runs on the cluster with only the standard library and cloudpickle.

Usage: ``python runner.py JOB_DIR`` for one call, ``python runner.py JOB_DIR TASK`` for task
TASK of an array. It is copied into every job dir, so it must not import clusterlab; what
only array items need (log offsets, per-item dirs, pool mode) is its second file,
``runner_items.py``, shipped beside it (see that file for why a second file); what only
multi-task jobs need (launching the tasks, each rank's run, ``cl.task()``) is its third,
``runner_tasks.py``; ``shim.py`` is the one stand-in for ``import clusterlab``.

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
import importlib.util
import json
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

HEARTBEAT_SECONDS = 30.0

# The job-dir contract as the runner knows it. The kernel's copy is clusterlab/common/
# jobdir.py; tests/unit/test_jobdir_contract.py proves that the two agree.
STATUS, RESULT, POOL = "status", "result.pkl", "pool.json"
PAYLOAD, FUNCTION = "payload.pkl", "fn.pkl"
WORK = "work"  # user code runs here (or in $CLUSTERLAB_WORKDIR), never among our own files
WORKDIR_VAR = "CLUSTERLAB_WORKDIR"
OUTSIDE_LOCK_VAR = "CLUSTERLAB_OUTSIDE_LOCK"  # in a container: see _outside_watch
OUTSIDE_POLL_SECONDS = 1.0
RUNNER_ITEMS = "runner_items.py"  # the runner's second file, beside it in every job dir
RUNNER_TASKS = "runner_tasks.py"  # its third: multi-task jobs and cl.task()

RUNNER_ATTEMPTS = "attempts.py"  # requeue and retries, beside it
RUNNER_SHIM = "shim.py"  # clusterlab's names for functions where clusterlab is not installed
CHECKPOINT, CHECKPOINTS = "checkpoint.pkl", "checkpoints"  # a job's; checkpoints/INDEX.pkl
CHECKPOINT_VAR = "CLUSTERLAB_CHECKPOINT"  # where the running call keeps its checkpoint


def _load_beside(name: str, module_name: str) -> Any:
    """A runner file from beside this one (``runner_items.py``, ``runner_tasks.py``), loaded
    by its path: not through ``sys.path`` (``python -I`` leaves the script's dir out of it,
    and a user's module of the same name must neither shadow it nor be shadowed)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


items = _load_beside(RUNNER_ITEMS, "clusterlab_runner_items")
# multi-task jobs (tasks=N) and cl.task()
tasks = _load_beside(RUNNER_TASKS, "clusterlab_runner_tasks")
attempts = _load_beside(RUNNER_ATTEMPTS, "clusterlab_runner_attempts")  # requeue, retries
JOB_DIR_GONE = 97  # exit code: the job dir was deleted (as job.sh's failed cd)


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


def _signalled(job: _Job, signum: int) -> None:
    """Cancelled, preempted or at the time limit: record it (a later kernel settles the job
    by this line when the scheduler has forgotten it), then die of the signal as before."""
    job.status("exit", code=128 + signum, signal=signal.Signals(signum).name[3:])
    items.die_of(signum)


def _outside_watch(job: _Job, path: str) -> None:
    """In a podman/docker container the runner is the engine's, not the scheduler's: a
    scheduler that kills the job's processes (Grid Engine's qdel and time limits send
    SIGKILL at once; SLURM and clusterlab's own queue after a grace) kills the engine's
    client, which cannot pass a SIGKILL on, and the container would run on, unseen. Those
    processes hold a shared lock on ``path`` (``flock -s`` in the job's command line):
    once this process can lock it exclusively, none of them is left, so it ends too."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    while True:
        time.sleep(OUTSIDE_POLL_SECONDS)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        job.status("exit", code=128 + signal.SIGKILL, signal="KILL")
        os._exit(128 + signal.SIGKILL)


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


def _checkpoint_at(job_dir: str, index: int | None = None) -> None:
    """Where ``cl.checkpoint`` keeps the next call's checkpoint: the job's, or an array
    item's own (items of one task run one after another in one process)."""
    name = CHECKPOINT if index is None else os.path.join(CHECKPOINTS, f"{index}.pkl")
    os.environ[CHECKPOINT_VAR] = os.path.join(job_dir, name)


def _pool_item(pool: Any, fn: Any, cloudpickle: Any, index: int) -> tuple[bool, str]:
    """Run item ``index`` that ``pool`` claimed and write its result: (ok, sha256)."""
    _checkpoint_at(pool.job.dir, index)
    path = os.path.join(pool.job.dir, items.RESULTS, f"{index}.pkl")
    try:
        _, args, kwargs, refs = pool.call(index)
    except Exception as exc:
        err = RuntimeError(_load_message(exc))
        return False, _write_result(path, ("error", _error_record(err, pickle.dumps)), pickle.dumps)
    return _call(fn, args, kwargs, refs, path, cloudpickle, sync=False)


def _item_error(job_dir: str, cloudpickle: Any, index: int, message: str) -> None:
    """Item ``index`` fails with ``message`` (a pool gave it up)."""
    path = os.path.join(job_dir, items.RESULTS, f"{index}.pkl")
    record = _error_record(RuntimeError(message), cloudpickle.dumps)
    _write_result(path, ("error", record), cloudpickle.dumps)


def _load_message(exc: BaseException) -> str:
    return (
        f"the job's function or arguments could not be loaded on {socket.gethostname()} "
        f"({type(exc).__name__}: {exc}). A module your function uses is probably missing "
        f"in {sys.executable}: install it there."
    )


# What runner_tasks.py runs of this file: a rank runs one call as a single job does.
write_result, run_call, error_record = _write_result, _call, _error_record
load_message, signalled = _load_message, _signalled


def no_cloudpickle() -> str:
    return (
        f"cloudpickle is not installed for {sys.executable} on {socket.gethostname()}: "
        f"run `{sys.executable} -m pip install --user cloudpickle` there (or point the "
        "profile's python at an environment that has it)"
    )


def _install_shim() -> None:
    """cl.checkpoint, cl.task(), cl.TaskInfo without clusterlab there (before unpickling)."""
    _load_beside(RUNNER_SHIM, "clusterlab_runner_shim").install(
        os.path.dirname(os.path.abspath(__file__)), tasks.SHIM_ATTRIBUTES
    )


def main(job_dir: str, task: str | None = None) -> int:
    if task is None and tasks.is_rank():  # one task of a tasks=N job (runner_tasks.py)
        _install_shim()  # a rank's function may name cl.task() and cl.checkpoint
        return int(tasks.rank_main(job_dir, sys.modules[__name__]))
    job = _Job(job_dir, task)
    before = attempts.runs_before(job.status_path)  # a requeued job runs its script again
    job.status(
        "started",
        host=socket.gethostname(),
        pid=os.getpid(),
        python=sys.version.split()[0],
        attempt=before + 1,
    )
    try:
        import cloudpickle
    except ImportError:
        return job.env_error(no_cloudpickle())
    tasks.prepare_job()  # no outer task (a job submitted from inside a task)
    signal.signal(signal.SIGTERM, lambda signum, _: _signalled(job, signum))
    if os.environ.get(OUTSIDE_LOCK_VAR):
        watch = (job, os.environ[OUTSIDE_LOCK_VAR])
        threading.Thread(target=_outside_watch, args=watch, daemon=True).start()
    _install_shim()
    try:
        tries = attempts.Attempts(
            job.status, attempts.load_policy(job_dir, cloudpickle.loads), before
        )
    except Exception as exc:
        return job.env_error(_load_message(exc))
    tries.install(lambda signum: _signalled(job, signum))
    if too_many := tries.over_limit():
        return job.env_error(too_many)
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
    items.start_gpu_sampling()  # only where the job has GPUs and nvidia-smi exists
    try:
        if task is None and tasks.launching():  # tasks=N: start them, settle by them
            _checkpoint_at(job_dir)  # every rank's cl.checkpoint: the job's (ranks inherit it)
            return int(tasks.launch(job, sys.modules[__name__]))
        if task is None:
            try:
                with open(os.path.join(job_dir, PAYLOAD), "rb") as fh:
                    fn, args, kwargs, refs = cloudpickle.load(fh)
            except Exception as exc:
                return job.env_error(_load_message(exc))
            _checkpoint_at(job_dir)
            fn = tries.retrying(fn)
            ok, digest = _call(fn, args, kwargs, refs, os.path.join(job_dir, RESULT), cloudpickle)
            finished = {"usage": items.usage(job.clock, final=True), **items.sized(job_dir, RESULT)}
            job.status("finished", outcome=items.OUTCOME[ok], sha256=digest, **finished)
            return 0 if ok else 1
        pool_path = os.path.join(job_dir, POOL)
        try:
            with open(os.path.join(job_dir, FUNCTION), "rb") as fh:
                fn = tries.retrying(cloudpickle.load(fh))
            if os.path.exists(pool_path):
                with open(pool_path) as fh:
                    shares = json.load(fh)["shares"]
                pool: Any = items.Pool(
                    job,
                    cloudpickle,
                    shares,
                    execute=lambda index: _pool_item(pool, fn, cloudpickle, index),
                    fail=lambda index, message: _item_error(job_dir, cloudpickle, index, message),
                )
                if pool.own:  # load its share now: a missing module is an env_error
                    pool.call(pool.own[0])
            else:
                with open(os.path.join(job_dir, items.ITEMS, f"{task}.pkl"), "rb") as fh:
                    calls = cloudpickle.load(fh)
        except Exception as exc:
            return job.env_error(_load_message(exc))
        if os.path.exists(pool_path):
            pool.start_heartbeat()
            ok = pool.work()
            job.status(
                "finished", outcome=items.OUTCOME[ok], usage=items.usage(job.clock, final=True)
            )
            return 0 if ok else 1
        all_ok = True
        for index, args, kwargs, refs in calls:
            item = items.Item(job, index)
            path = os.path.join(job_dir, items.RESULTS, f"{index}.pkl")
            _checkpoint_at(job_dir, index)
            if tasks.launching():  # tasks=N: the item runs on N tasks (runner_tasks.py)
                ok, digest = tasks.launch_item(job, index, path, sys.modules[__name__])
            else:
                ok, digest = _call(fn, args, kwargs, refs, path, cloudpickle, sync=False)
            item.finished(outcome=items.OUTCOME[ok], sha256=digest)
            all_ok = all_ok and ok
        job.status(
            "finished", outcome=items.OUTCOME[all_ok], usage=items.usage(job.clock, final=True)
        )
        return 0 if all_ok else 1
    finally:
        stop.set()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
