"""``cl.checkpoint``: a function's own progress, kept where the job runs.

``save(obj)`` writes one object for the running call; ``load(default)`` reads it back, or
gives ``default`` when nothing was saved yet. A job that is requeued (preempted, warned of
its time limit) or retried runs again in the same job directory, so its next run resumes
from the last ``save``: the point of checkpoints on clusters.

Why a file in the job's own directory: it is on the cluster's file system, which every
run of the job sees (also after a requeue onto another node of a shared file system),
and it never travels through the notebook: a checkpoint of gigabytes costs nothing to the
kernel, so the blob store (which moves the kernel's large values to the cluster) is not
needed. Each save is atomic (temp file, fsync, rename): a run killed in the middle of a
save leaves the previous checkpoint whole.

This module is stdlib only (cloudpickle when present): it runs on the cluster, either as
``clusterlab.checkpoint`` of an installed clusterlab or through the runner's shim (see
``shim.py``) where the cluster's Python has only cloudpickle. The runner tells it where the
running call keeps its checkpoint with ``CLUSTERLAB_CHECKPOINT``. Outside a job (calling
the function in the notebook to try it) there is no such file: ``save`` keeps the object
in memory and ``load`` returns it, so the same code runs in both places.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
from typing import Any

CHECKPOINT_VAR = "CLUSTERLAB_CHECKPOINT"
"""Set by the runner for each call: the path of that call's checkpoint file."""

_MISSING = object()
_in_memory: Any = _MISSING  # outside a job: the last save of this process


def _pickler() -> Any:
    try:
        import cloudpickle
    except ImportError:  # plain pickle still saves plain data
        return pickle
    return cloudpickle


def path() -> str | None:
    """Where the running call keeps its checkpoint; None outside a job."""
    return os.environ.get(CHECKPOINT_VAR) or None


def save(obj: Any) -> None:
    """Keep ``obj`` as this call's checkpoint, replacing the previous one atomically."""
    global _in_memory
    where = path()
    if where is None:
        _in_memory = obj
        return
    data = _pickler().dumps(obj)
    os.makedirs(os.path.dirname(where) or ".", mode=0o700, exist_ok=True)
    tmp = f"{where}.tmp.{socket.gethostname()}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, where)
    dir_fd = os.open(os.path.dirname(where) or ".", os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse a directory fsync
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(default: Any = None) -> Any:
    """The last object saved by this call (in an earlier run of the job too), else
    ``default``."""
    where = path()
    if where is None:
        return default if _in_memory is _MISSING else _in_memory
    try:
        with open(where, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return default
    return _pickler().loads(data)


def exists() -> bool:
    """Whether a checkpoint was saved (by this run or an earlier one)."""
    where = path()
    return _in_memory is not _MISSING if where is None else os.path.exists(where)
