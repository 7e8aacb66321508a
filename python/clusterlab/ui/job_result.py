"""What a finished job gave, as text for the lab panel: a bounded repr of its value, or its
traceback.

The panel's ``job.result`` request lands here (on the comm's thread pool: reading a result
may fetch a file from the cluster). A job that has not ended has no result yet and says so
instead of waiting; an array answers per item (``ARRAYID:INDEX``), as its logs do.

Why bounded: the panel's kernel is often the user's own notebook kernel. Showing a result
must not load a 2 GB value into it just to print 2,000 characters of it. So a value whose
result file is larger than :data:`RESULT_LOAD_BYTES` is not read or unpickled at all: the
reply says its size and the panel offers an explicit "Load" (``load: true``). A value that
is read is shown as at most :data:`RESULT_REPR_CHARS` characters of its repr (a loaded
large value through :class:`_BoundedRepr`, so a huge list or bytes object is not turned
into a huge string first). A job of another kernel is read from its result file here,
without reattaching it: reattaching would make this kernel's watcher download and unpickle
the value whatever its size.
"""

from __future__ import annotations

import concurrent.futures
import json
import reprlib
from typing import Any

from ..common import jobdir
from ..common.errors import ClusterlabError, RemoteTraceback, readable_traceback
from ..common.states import TERMINAL, JobState

RESULT_TEXT_BYTES = 64 * 1024  # the panel shows the start of a longer traceback
RESULT_REPR_CHARS = 2000  # and of a longer repr
RESULT_LOAD_BYTES = 1024 * 1024  # a larger result file is read only on "Load"
RESULT_WAIT = 30.0  # seconds to read an ended job's result file before saying it could not


class _BoundedRepr(reprlib.Repr):
    """A repr whose cost is bounded for containers and strings of any size (reprlib's
    element limits), keeping insertion order for dicts (reprlib sorts keys) and clipping
    bytes before they are turned into text."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 6
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 200
        self.maxdeque = self.maxarray = 200
        self.maxdict = 100
        self.maxstring = self.maxother = self.maxlong = limit

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = []
        for n, key in enumerate(x):
            if n >= self.maxdict:
                items.append("...")
                break
            items.append(f"{self.repr1(key, level - 1)}: {self.repr1(x[key], level - 1)}")
        return "{" + ", ".join(items) + "}"

    def repr_bytes(self, x: bytes, level: int) -> str:
        head = repr(bytes(x[: self.maxstring]))
        return head if len(x) <= self.maxstring else head[:-1] + "..." + head[-1]

    repr_bytearray = repr_bytes


def _clip(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def value_text(value: Any, size: int | None) -> tuple[str, bool]:
    """At most RESULT_REPR_CHARS of the value's repr, and whether it was cut. A value
    whose file is small (or of unknown size but in memory already) gets its own repr; a
    large one the bounded repr."""
    if size is not None and size > RESULT_LOAD_BYTES:
        text = _BoundedRepr(RESULT_REPR_CHARS).repr(value)
    else:
        text = repr(value)
    return _clip(text, RESULT_REPR_CHARS)


def _traceback_text(exc: BaseException) -> str:
    """The remote traceback as the notebook would show it (it ends with the exception
    line); an error raised here (e.g. the result file is gone) is its own message."""
    cause = exc.__cause__
    if isinstance(cause, RemoteTraceback):
        return readable_traceback(cause.tb).rstrip("\n")
    return f"{type(exc).__name__}: {exc}"


def _reply(
    job_id: str,
    state: str,
    outcome: str,
    text: str,
    truncated: bool,
    size: int | None,
    loaded: bool,
) -> dict[str, Any]:
    return {
        "id": job_id,
        "state": state,
        "outcome": outcome,
        "text": text,
        "truncated": truncated,
        "size": size,
        "loaded": loaded,
    }


def result_text(job_id: str, load: bool = False) -> dict[str, Any]:
    """``{id, state, outcome, text, truncated, size, loaded}``; outcome is ``value`` (text
    is its bounded repr), ``error`` (text is its traceback) or ``cancelled`` (text says
    why). ``size`` is the result file's length in bytes (None when unknown); ``loaded`` is
    False, with an empty text, for a value over RESULT_LOAD_BYTES that ``load`` did not
    ask for. Raises ClusterlabError, with what to do, for an array, an unknown id or a job
    still running."""
    unread = _completed_elsewhere(job_id)
    if unread is not None:
        return _read_file(job_id, *unread, load=load)
    return _from_job(job_id)


def _completed_elsewhere(job_id: str) -> tuple[Any, str] | None:
    """``(transport, result file)`` of a COMPLETED job (or array item) that this kernel
    does not hold (another kernel's, or one it let go): its value is read from the file
    here, not by reattaching. None for anything else (held here, not completed, cleaned
    up, unknown): those take the usual way."""
    from ..config.profile import Profile
    from ..core.ledger import store as ledger
    from ..core.model.alive import live
    from ..core.model.job import Job
    from ..core.runtime import get_runtime

    base, sep, index = job_id.partition(":")
    held = live.get(job_id)
    if held is None and sep and base in live:
        held = _item(live[base], index)
    if isinstance(held, Job) and held.done() and held.result_unread:
        return held.engine.transport, held.result_path  # completed, value left unread
    if job_id in live or base in live:
        return None
    rec = ledger.get(base)
    if rec is None or rec.cleaned:
        return None
    if not sep:
        if rec.kind != "job" or rec.state != JobState.COMPLETED.value:
            return None
        path = f"{rec.job_dir}/{jobdir.RESULT}"
    else:
        if rec.kind != "array" or not (index.isascii() and index.isdigit()):
            return None
        item = int(index)
        states = {row[0]: row[1] for row in ledger.items(base)}
        if states.get(item) != JobState.COMPLETED.value:
            return None
        dirs = [
            p["job_dir"]
            for p in rec.spec.get("parts", [])
            if any(item in task for task in p.get("task_items", []))
        ]
        if not dirs:
            return None
        path = f"{dirs[-1]}/{jobdir.item_result(item)}"  # a rerun's part replaces earlier ones
    runtime = get_runtime(Profile.from_dict(json.loads(rec.profile_json)))
    return runtime.transport, path


def _item(array: Any, index: str) -> Any:
    """Item ``index`` of a held array (None when it has no such item)."""
    elements = getattr(array, "elements", None)
    if not elements or not (index.isascii() and index.isdigit()) or int(index) >= len(elements):
        return None
    return elements[int(index)]


def _read_file(job_id: str, transport: Any, path: str, *, load: bool) -> dict[str, Any]:
    from ..core.transfer.payload import load_result

    state = JobState.COMPLETED.value
    found = transport.read_ranges([(path, 0, 0)])[0]  # its size only
    if found is None:
        raise ClusterlabError(
            f"job {job_id} completed but its result file {path} is gone (cleaned up?): run "
            "the job again to get it"
        )
    size = int(found[0])
    if size > RESULT_LOAD_BYTES and not load:
        return _reply(job_id, state, "value", "", False, size, False)
    data = transport.read_files([path]).get(path)
    if data is None:
        raise ClusterlabError(f"job {job_id}: its result file {path} disappeared while read")
    ok, value = load_result(data)
    del data
    if not ok:
        clipped, truncated = _clip(_traceback_text(value), RESULT_TEXT_BYTES)
        return _reply(job_id, state, "error", clipped, truncated, size, True)
    text, truncated = value_text(value, size)
    return _reply(job_id, state, "value", text, truncated, size, True)


def _file_size(target: Any) -> int | None:
    """The size of a held job's result file, for the reply (None when it cannot be
    read: the reply still has the value, which is in memory already)."""
    try:
        found = target.engine.transport.read_ranges([(target.result_path, 0, 0)])[0]
    except Exception:  # the value is here; its size is a detail
        return None
    return None if found is None else int(found[0])


def _from_job(job_id: str) -> dict[str, Any]:
    from ..core.model.array import ArrayJob
    from ..jobs import job

    target = job(job_id)
    if isinstance(target, ArrayJob):
        raise ClusterlabError(
            f"results belong to array items: ask for '{target.id}:INDEX' (0 to {len(target) - 1})"
        )
    if target.state not in TERMINAL:
        raise ClusterlabError(
            f"job {target.id} is {target.state.value}: its result is there once it ends "
            "(the panel shows it then)"
        )
    size: int | None = None
    try:
        value = target.result(timeout=RESULT_WAIT)
    except concurrent.futures.TimeoutError as exc:
        raise ClusterlabError(
            f"job {target.id} ended but its result could not be read within "
            f"{RESULT_WAIT:.0f} s; try again, or read its log"
        ) from exc
    except concurrent.futures.CancelledError:
        text = f"{target.state.value}: {target.reason}"
        return _reply(target.id, target.state.value, "cancelled", text, False, None, True)
    except Exception as exc:  # the job's own exception: what the panel shows
        clipped, truncated = _clip(_traceback_text(exc), RESULT_TEXT_BYTES)
        return _reply(target.id, target.state.value, "error", clipped, truncated, None, True)
    size = _file_size(target)
    text, truncated = value_text(value, size)
    return _reply(target.id, target.state.value, "value", text, truncated, size, True)
