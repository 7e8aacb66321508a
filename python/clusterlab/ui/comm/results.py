"""``job.result``: a finished job's value (repr) or traceback (:mod:`..job_result`)."""

from __future__ import annotations

from typing import Any

from ..job_result import result_text
from .topic import Connection, Request, Topic, job_id


def result(data: dict[str, Any], rid: str) -> dict[str, Any]:
    return result_text(job_id(data))


def open_topic(conn: Connection) -> Topic:
    return Topic({"job.result": Request(result, slow=True)})
