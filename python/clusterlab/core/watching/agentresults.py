"""The status agent's end and item records, read: kept so the collector need not read the
result, nor a follower the last output (two round trips fewer per job; the collector still
checks each result against its line's sha256 and reads the file when they differ).

Their format is described once, where they are written: the protocol in the docstring of
:mod:`clusterlab.remote.agent` (the end record before a job's ``finished`` line, the item
record before an ``item-finished`` line)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from ...backends.statusdump import INLINE, LOG_SIZES
from ..model.array import ArrayPart

if TYPE_CHECKING:
    from ..runtime import Runtime

PushedItem = tuple["Runtime", str, int, bytes]  # (runtime, job dir, item index, result)


def pushed_item(runtime: Runtime, job_dir: str, record: dict[str, Any]) -> PushedItem | None:
    """An agent's item record (see the module's docstring), or None when it is not one."""
    index = record.get("item")
    if type(index) is not int or index < 0:
        return None
    try:
        blob = base64.b64decode(str(record.get("result", "")), validate=True)
    except (binascii.Error, ValueError):
        return None
    return runtime, job_dir, index, blob


def hand_out(items: list[PushedItem | None]) -> None:
    """Give each pushed result to its item's Job (called without the agent link's lock:
    the watcher's lock is taken here). Each dir's watched parts are looked up once."""
    parts: dict[str, list[ArrayPart]] = {}
    for runtime, job_dir, index, blob in filter(None, items):
        if job_dir not in parts:
            units = runtime.watcher.units_in(job_dir)
            parts[job_dir] = [u for u in units if isinstance(u, ArrayPart)]
        for part in parts[job_dir]:
            job = part.jobs.get(index)
            if job is not None and not job.done():
                runtime.collector.pushed[job.id] = blob


def take_end(files: dict[str, bytearray], record: dict[str, Any]) -> tuple[str, str]:
    """Keep a job's pushed end record with its dir's pushed files, as pseudo files the
    pushed observation reads (:mod:`.agentstatus`): its result (empty: none pushed) and
    its logs' sizes; the names of the pseudo files it wrote."""
    try:
        blob = base64.b64decode(str(record.get("result", "")), validate=True)
    except (binascii.Error, ValueError):
        blob = b""  # not the agent's: the collector reads the file
    files[INLINE] = bytearray(blob)
    files[LOG_SIZES] = bytearray(json.dumps(record.get("sizes", {})).encode())
    return INLINE, LOG_SIZES
