"""The job runner: runs on the cluster with only the standard library and cloudpickle.

Usage: ``python runner.py JOB_DIR``. It is copied into every job dir, so it must not import
clusterlab. It records the job's life in ``JOB_DIR/status`` (one JSON object per line:
started, heartbeat, finished) and leaves the outcome in ``JOB_DIR/result.pkl``, written to a
temp file and renamed so a reader never sees half a result:

- ``("ok", value)``
- ``("error", {"type", "message", "traceback", "exception"})`` where ``exception`` is the
  cloudpickled exception object, or None when it cannot be pickled.
- ``("env_error", message)`` when this machine lacks something (cloudpickle, a module).

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


def _append_status(job_dir: str, event: str, **fields: Any) -> None:
    record = {"event": event, "time": time.time(), **fields}
    line = json.dumps(record) + "\n"
    # One write() of a short line with O_APPEND is atomic enough for concurrent readers.
    fd = os.open(os.path.join(job_dir, "status"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _write_result(job_dir: str, outcome: Any, dumps: Callable[[Any], bytes]) -> None:
    tmp = os.path.join(job_dir, ".result.pkl.tmp")
    data = dumps(outcome)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(job_dir, "result.pkl"))


def _heartbeat(job_dir: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        _append_status(job_dir, "heartbeat")


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


def main(job_dir: str) -> int:
    _append_status(
        job_dir,
        "started",
        host=socket.gethostname(),
        pid=os.getpid(),
        python=sys.version.split()[0],
        native_id=os.environ.get("SLURM_JOB_ID", ""),
    )
    try:
        import cloudpickle
    except ImportError:
        message = (
            f"cloudpickle is not installed for {sys.executable} on {socket.gethostname()}: "
            f"run `{sys.executable} -m pip install --user cloudpickle` there (or point the "
            "profile's python at an environment that has it)"
        )
        _write_result(job_dir, ("env_error", message), pickle.dumps)
        _append_status(job_dir, "finished", outcome="env_error")
        return 2

    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(job_dir, stop), daemon=True).start()
    try:
        with open(os.path.join(job_dir, "payload.pkl"), "rb") as fh:
            try:
                fn, args, kwargs = cloudpickle.load(fh)
            except Exception as exc:
                message = (
                    f"the job's function or arguments could not be loaded on "
                    f"{socket.gethostname()} ({type(exc).__name__}: {exc}). A module your "
                    f"function uses is probably missing in {sys.executable}: install it there."
                )
                _write_result(job_dir, ("env_error", message), pickle.dumps)
                _append_status(job_dir, "finished", outcome="env_error")
                return 2
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # the user's exception, whatever it is, goes back
            sys.stdout.flush()
            _write_result(
                job_dir, ("error", _error_record(exc, cloudpickle.dumps)), cloudpickle.dumps
            )
            _append_status(job_dir, "finished", outcome="error")
            return 1
        sys.stdout.flush()
        try:
            _write_result(job_dir, ("ok", value), cloudpickle.dumps)
        except Exception as exc:
            err = TypeError(
                f"the result of the function ({type(value).__name__}) could not be pickled to "
                f"send it back: {exc}. Return plain data (numbers, arrays, dicts) or save it "
                "to a file and return the path."
            )
            _write_result(
                job_dir, ("error", _error_record(err, cloudpickle.dumps)), cloudpickle.dumps
            )
            _append_status(job_dir, "finished", outcome="error")
            return 1
        _append_status(job_dir, "finished", outcome="ok")
        return 0
    finally:
        stop.set()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
