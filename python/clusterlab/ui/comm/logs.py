"""``job.logs``: the end of a job's stdout or stderr (an array's logs are per item), or an
earlier page of it (``before``)."""

from __future__ import annotations

from typing import Any

from .topic import Connection, Request, RequestError, Topic, job_id

LOG_TAIL_BYTES = 64 * 1024


def logs(data: dict[str, Any], rid: str) -> dict[str, Any]:
    from ...core.model.array import ArrayJob
    from ...core.model.logs import read_tail
    from ...jobs import job

    stream = data.get("stream", "stdout")
    if stream not in ("stdout", "stderr"):
        raise RequestError("'stream' must be 'stdout' or 'stderr'")
    target = job(job_id(data))
    if isinstance(target, ArrayJob):
        raise RequestError("logs belong to array items: ask for 'ARRAYID:INDEX'")
    before = data.get("before")
    if before is not None and (type(before) is not int or before < 0):
        raise RequestError("'before' must be a byte offset (a whole number >= 0)")
    # Only those bytes are read from the cluster (core.model.logs.read_tail): a job with a
    # 10 GB stdout costs the kernel 64 KiB, not the file.
    text, start, size = read_tail(target.engine, target, stream, LOG_TAIL_BYTES, before)
    return {
        "id": target.id,
        "stream": stream,
        "text": text,
        "start": start,
        "size": size,
        "truncated": start > 0,
        "state": target.state.value,
    }


def open_topic(conn: Connection) -> Topic:
    return Topic({"job.logs": Request(logs, slow=True)})
