"""``job.result``: a finished job's bounded repr or traceback (:mod:`..job_result`);
``load: true`` reads a value over the size threshold that the first answer left unread."""

from __future__ import annotations

from typing import Any

from ..job_result import result_text
from .topic import Connection, Request, RequestError, Topic, job_id


def result(data: dict[str, Any], rid: str) -> dict[str, Any]:
    load = data.get("load", False)
    if not isinstance(load, bool):
        raise RequestError("'load' must be true or false")
    return result_text(job_id(data), load=load)


def open_topic(conn: Connection) -> Topic:
    return Topic({"job.result": Request(result, slow=True)})
