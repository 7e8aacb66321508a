"""The panel's ``job.result`` request: a finished job's repr or traceback, per array item,
and a clear answer for a job that has not ended. Real local jobs; the comm object is the
recording stand-in of test_comm.py."""

from __future__ import annotations

import time
from typing import Any

import clusterlab as cl
from clusterlab.ui.comm import CommHandler

from .test_comm import RecordingComm, request


def _handler() -> tuple[CommHandler, RecordingComm]:
    comm = RecordingComm()
    return CommHandler(comm), comm


def _boom(x: int) -> int:
    if x == 2:
        raise ValueError(f"item {x} is bad")
    return x * 10


def test_value_repr_traceback_and_array_items() -> None:
    h, comm = _handler()
    try:
        job = cl.cluster("local")(dict).submit(answer=42)
        job.result(timeout=60)
        ok = request(h, comm, "job.result", {"id": job.id}, "a")
        assert ok["ok"], ok
        assert ok["data"] == {
            "id": job.id,
            "state": "COMPLETED",
            "outcome": "value",
            "text": "{'answer': 42}",
            "truncated": False,
        }
        arr = cl.cluster("local")(_boom).map(range(3))
        arr.wait(60)
        item = request(h, comm, "job.result", {"id": f"{arr.id}:1"}, "b")["data"]
        assert (item["outcome"], item["text"]) == ("value", "10")
        failed = request(h, comm, "job.result", {"id": f"{arr.id}:2"}, "c")["data"]
        assert failed["outcome"] == "error" and failed["state"] == "FAILED"
        assert "Traceback" in failed["text"] and "_boom" in failed["text"]
        assert failed["text"].endswith("ValueError: item 2 is bad")
        whole = request(h, comm, "job.result", {"id": arr.id}, "d")
        assert not whole["ok"]
        assert f"ask for '{arr.id}:INDEX' (0 to 2)" in whole["error"]["message"]
    finally:
        h.close()


def test_a_running_job_says_its_result_comes_later_and_cancelled_says_why() -> None:
    h, comm = _handler()
    try:
        slow = cl.cluster("local")(time.sleep).submit(60)
        early = request(h, comm, "job.result", {"id": slow.id}, "a")
        assert not early["ok"]
        assert "its result is there once it ends" in early["error"]["message"]
        slow.cancel()
        gone = request(h, comm, "job.result", {"id": slow.id}, "b")["data"]
        assert gone["outcome"] == "cancelled" and gone["text"].startswith("CANCELLED")
        missing = request(h, comm, "job.result", {"id": "ghost"}, "c")
        assert "no job 'ghost'" in missing["error"]["message"]
    finally:
        h.close()


def test_a_long_repr_is_clipped() -> None:
    h, comm = _handler()
    try:
        job = cl.cluster("local")(str.__mul__).submit("x", 200_000)
        job.result(timeout=60)
        data: dict[str, Any] = request(h, comm, "job.result", {"id": job.id}, "a")["data"]
        assert data["truncated"] and len(data["text"]) == 64 * 1024
    finally:
        h.close()
