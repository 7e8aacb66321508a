"""A job's log for the lab panel's "Show log": its last 64 KiB, or an earlier page.

Only those bytes are read from the cluster (:func:`clusterlab.core.logs.read_tail`), so a
job with a 10 GB stdout costs the kernel 64 KiB, not the file.
"""

from __future__ import annotations

from typing import Any

from ..core.job import Job
from ..core.logs import read_tail

LOG_TAIL_BYTES = 64 * 1024


def log_reply(target: Job, stream: str, before: int | None) -> dict[str, Any]:
    """The ``job.logs`` reply: the text, where it starts, the stream's size."""
    text, start, size = read_tail(target._runtime, target, stream, LOG_TAIL_BYTES, before)
    return {
        "id": target.id,
        "stream": stream,
        "text": text,
        "start": start,
        "size": size,
        "truncated": start > 0,
        "state": target.state.value,
    }
