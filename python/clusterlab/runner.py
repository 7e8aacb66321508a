"""The job runner: runs on the cluster with only the standard library and cloudpickle.

Usage: ``python runner.py JOB_DIR`` for one call, ``python runner.py JOB_DIR TASK`` for task
TASK of an array. It is copied into every job dir, so it must not import clusterlab.

It records the job's life in ``status`` (``status.TASK`` for an array task; one JSON object
per line: started, heartbeat, item-started/item-finished, finished) and leaves each outcome
in ``result.pkl`` (``results/INDEX.pkl`` per array item), written to a temp file and renamed
so a reader never sees half a result:

- ``("ok", value)``
- ``("error", {"type", "message", "traceback", "exception"})`` where ``exception`` is the
  cloudpickled exception object, or None when it cannot be pickled.
- ``("env_error", message)`` when this machine lacks something (cloudpickle, a module);
  the message is also in the ``finished`` status line.

A call's arguments may name results of earlier jobs (``refs``: argument position or
keyword -> result file path(s)); they are loaded here, so data passed from job to job never
travels through the notebook.

The exit code is 0 on success and 1 when the function raised, so schedulers that record
exit codes agree with the result file.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

HEARTBEAT_SECONDS = 30.0


class _Job:
    """Where this run writes: its status file and its result files."""

    def __init__(self, job_dir: str, task: str | None) -> None:
        self.dir = job_dir
        self.task = task
        self.status_path = os.path.join(job_dir, "status" if task is None else f"status.{task}")

    def status(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **fields}
        line = json.dumps(record) + "\n"
        # One short O_APPEND write per line: readers see whole lines or nothing new.
        fd = os.open(self.status_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def env_error(self, message: str) -> int:
        if self.task is None:
            _write_result(
                os.path.join(self.dir, "result.pkl"), ("env_error", message), pickle.dumps
            )
        self.status("finished", outcome="env_error", message=message)
        return 2


def _write_result(path: str, outcome: Any, dumps: Callable[[Any], bytes]) -> None:
    data = dumps(outcome)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _heartbeat(job: _Job, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        job.status("heartbeat")


def _error_record(exc: BaseException, dumps: Callable[[Any], bytes]) -> dict[str, Any]:
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
) -> bool:
    """Run one call and write its result file; True on success."""
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
        _write_result(result_path, ("error", record), cloudpickle.dumps)
        return False
    sys.stdout.flush()
    try:
        _write_result(result_path, ("ok", value), cloudpickle.dumps)
    except Exception as exc:
        err = TypeError(
            f"the result of the function ({type(value).__name__}) could not be pickled to "
            f"send it back: {exc}. Return plain data (numbers, arrays, dicts) or save it "
            "to a file and return the path."
        )
        _write_result(
            result_path, ("error", _error_record(err, cloudpickle.dumps)), cloudpickle.dumps
        )
        return False
    return True


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
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(job, stop), daemon=True).start()
    try:
        if task is None:
            try:
                with open(os.path.join(job_dir, "payload.pkl"), "rb") as fh:
                    fn, args, kwargs, refs = cloudpickle.load(fh)
            except Exception as exc:
                return job.env_error(_load_message(exc))
            ok = _call(fn, args, kwargs, refs, os.path.join(job_dir, "result.pkl"), cloudpickle)
            job.status("finished", outcome="ok" if ok else "error")
            return 0 if ok else 1
        try:
            with open(os.path.join(job_dir, "fn.pkl"), "rb") as fh:
                fn = cloudpickle.load(fh)
            with open(os.path.join(job_dir, "items", f"{task}.pkl"), "rb") as fh:
                items = cloudpickle.load(fh)
        except Exception as exc:
            return job.env_error(_load_message(exc))
        all_ok = True
        for index, args, kwargs, refs in items:
            job.status("item-started", index=index)
            path = os.path.join(job_dir, "results", f"{index}.pkl")
            ok = _call(fn, args, kwargs, refs, path, cloudpickle)
            job.status("item-finished", index=index, outcome="ok" if ok else "error")
            all_ok = all_ok and ok
        job.status("finished", outcome="ok" if all_ok else "error")
        return 0 if all_ok else 1
    finally:
        stop.set()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
