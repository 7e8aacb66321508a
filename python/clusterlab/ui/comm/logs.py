"""``job.logs``: the end of a job's stdout or stderr (an array's logs are per item)."""

from __future__ import annotations

from typing import Any

from .topic import Connection, Request, RequestError, Topic, job_id

LOG_TAIL_BYTES = 64 * 1024


def logs(data: dict[str, Any], rid: str) -> dict[str, Any]:
    from ...core.model.array import ArrayJob
    from ...jobs import job

    stream = data.get("stream", "stdout")
    if stream not in ("stdout", "stderr"):
        raise RequestError("'stream' must be 'stdout' or 'stderr'")
    target = job(job_id(data))
    if isinstance(target, ArrayJob):
        raise RequestError("logs belong to array items: ask for 'ARRAYID:INDEX'")
    text = target.stdout() if stream == "stdout" else target.stderr()
    return {
        "id": target.id,
        "stream": stream,
        "text": text[-LOG_TAIL_BYTES:],
        "truncated": len(text) > LOG_TAIL_BYTES,
        "state": target.state.value,
    }


def open_topic(conn: Connection) -> Topic:
    return Topic({"job.logs": Request(logs, slow=True)})
