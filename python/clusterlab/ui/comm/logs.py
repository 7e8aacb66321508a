"""``job.logs``: the end of a job's stdout or stderr (an array's logs are per item), or an
earlier page of it (``before``); a job of several tasks has one log per rank (``rank``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .topic import Connection, Request, RequestError, Topic, job_id

if TYPE_CHECKING:
    from ...core.model.job import Job

LOG_TAIL_BYTES = 64 * 1024


def log_stream(value: Any) -> str:
    """``value`` as a log's stream name; shared by ``job.logs``, ``job.follow`` and
    ``job.unfollow`` so the three say the same thing of a bad one."""
    if value not in ("stdout", "stderr"):
        raise RequestError("'stream' must be 'stdout' or 'stderr'")
    return str(value)


def log_rank(value: Any) -> int:
    """``value`` as a rank number (only its type: :func:`log_item` checks its range once
    the job is known)."""
    if type(value) is not int:
        raise RequestError("'rank' must be a whole number (0 for rank 0, the job's own log)")
    return value


def log_item(data: dict[str, Any], rank: int) -> Job:
    """The job (or array item) whose log ``data`` asks for, with ``rank`` in its range:
    an array as a whole has no log, each item has its own."""
    from ...common.errors import ClusterlabError
    from ...core.model.array import ArrayJob
    from ...core.model.ranks import check_rank
    from ...jobs import job

    target = job(job_id(data))
    if isinstance(target, ArrayJob):
        raise RequestError("logs belong to array items: ask for 'ARRAYID:INDEX'")
    try:
        check_rank(target, rank)
    except ClusterlabError as exc:
        raise RequestError(str(exc)) from None
    return target


def logs(data: dict[str, Any], rid: str) -> dict[str, Any]:
    from ...common import jobdir
    from ...core.model.logs import read_tail
    from ...core.model.ranks import rank_count

    stream = log_stream(data.get("stream", "stdout"))
    rank = log_rank(data.get("rank", 0))
    target = log_item(data, rank)
    before = data.get("before")
    if before is not None and (type(before) is not int or before < 0):
        raise RequestError("'before' must be a byte offset (a whole number >= 0)")
    # Only those bytes are read from the cluster (core.model.logs.read_tail): a job with a
    # 10 GB stdout costs the kernel 64 KiB, not the file.
    # rank R > 0 writes its own file (ranks/R.stdout); rank 0 the job's (or item's) log
    index = target.index if target.array_id and rank else None
    name = jobdir.rank_log(stream, rank, index)
    args = (target.engine, target, name, LOG_TAIL_BYTES, before)
    text, start, size = read_tail(*args, whole=bool(rank))
    return {
        "id": target.id,
        "stream": stream,
        "rank": rank,
        "ranks": rank_count(target),
        "text": text,
        "start": start,
        "size": size,
        "truncated": start > 0,
        "state": target.state.value,
    }


def open_topic(conn: Connection) -> Topic:
    return Topic({"job.logs": Request(logs, slow=True)})
