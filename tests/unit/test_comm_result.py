"""The panel's ``job.result`` request: a finished job's repr or traceback, per array item,
and a clear answer for a job that has not ended. Real local jobs; the comm object is the
recording stand-in of test_comm.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.core.model.alive import live
from clusterlab.ui.comm import CommHandler
from clusterlab.ui.job_result import RESULT_LOAD_BYTES, RESULT_REPR_CHARS

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
        size = ok["data"].pop("size")
        assert ok["data"] == {
            "id": job.id,
            "state": "COMPLETED",
            "outcome": "value",
            "text": "{'answer': 42}",
            "truncated": False,
            "loaded": True,
        }
        assert isinstance(size, int) and 0 < size < 1000  # the result file's bytes
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
        assert data["truncated"] and len(data["text"]) == RESULT_REPR_CHARS == 2000
        assert data["loaded"] and data["size"] > 200_000
    finally:
        h.close()


def test_a_large_value_of_another_kernel_is_not_loaded_until_load() -> None:
    """Issue 25, defect 9: showing a result loaded the whole value into the panel's kernel
    (reattached, downloaded, unpickled) to repr it. A value over the threshold is now only
    measured; "Load" (``load: true``) reads it and shows a bounded repr."""
    h, comm = _handler()
    try:
        job = cl.cluster("local")(bytes).submit(3_000_000)
        assert len(job.result(timeout=60)) == 3_000_000
        small = cl.cluster("local")(dict).submit(answer=42)
        small.result(timeout=60)
        for done in (job, small):  # as a panel in another kernel sees them
            live.pop(done.id)

        first = request(h, comm, "job.result", {"id": job.id}, "a")
        assert first["ok"], first
        assert first["data"]["outcome"] == "value" and first["data"]["state"] == "COMPLETED"
        assert first["data"]["loaded"] is False and first["data"]["text"] == ""
        assert first["data"]["size"] > RESULT_LOAD_BYTES
        assert job.id not in live  # not reattached: nothing watched, downloaded or unpickled

        loaded = request(h, comm, "job.result", {"id": job.id, "load": True}, "b")["data"]
        assert loaded["loaded"] is True and loaded["truncated"] is True
        assert loaded["text"].startswith("b'\\x00\\x00") and len(loaded["text"]) <= 2000
        assert job.id not in live

        shown = request(h, comm, "job.result", {"id": small.id}, "c")["data"]
        assert (shown["text"], shown["loaded"]) == ("{'answer': 42}", True)
        bad = request(h, comm, "job.result", {"id": small.id, "load": "yes"}, "d")
        assert bad["error"]["message"] == "'load' must be true or false"
    finally:
        h.close()


def test_a_large_array_item_is_not_loaded_until_load() -> None:
    h, comm = _handler()
    try:
        arr = cl.cluster("local")(bytes).map([10, 2_000_000])
        arr.wait(60)
        live.pop(arr.id)
        small = request(h, comm, "job.result", {"id": f"{arr.id}:0"}, "a")["data"]
        assert (small["text"], small["loaded"]) == ("b'" + "\\x00" * 10 + "'", True)
        big = request(h, comm, "job.result", {"id": f"{arr.id}:1"}, "b")["data"]
        assert big["loaded"] is False and big["size"] > RESULT_LOAD_BYTES
        assert arr.id not in live
    finally:
        h.close()


def test_a_job_watched_for_a_gone_kernel_is_not_unpickled_when_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The panel reattaches an active job whose kernel is gone, so its ending reaches the
    panel. Its value was then downloaded and unpickled in the panel's kernel (the user's
    notebook kernel, often) when it ended, whatever its size and although nobody asked.
    Now only its state is watched; "Show result" measures it and "Load" reads it."""
    import subprocess
    import sys

    from clusterlab.core.watching import collect

    unpickled: list[int] = []
    real_load = collect.load_result

    def spy(data: bytes) -> Any:  # records, then does the real thing
        unpickled.append(len(data))
        return real_load(data)

    monkeypatch.setattr(collect, "load_result", spy)
    script = (
        "import os, time, clusterlab as cl\n"
        "def big(n):\n"
        "    import time\n"
        "    time.sleep(3)\n"
        "    return bytes(n)\n"
        "job = cl.cluster('local')(big).submit(3_000_000)\n"
        "while [r.state for r in cl.jobs()] != ['RUNNING']: time.sleep(0.05)\n"
        "print(job.id, flush=True)\n"
        "os._exit(0)  # its kernel is gone, its job runs on\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    job_id = out.stdout.split()[-1]
    h, comm = _handler()
    try:
        listed = request(h, comm, "jobs.list", {}, "l0")["data"]["jobs"]
        assert [(j["id"], j["state"]) for j in listed] == [(job_id, "RUNNING")]
        deadline = time.time() + 90
        for n in range(10**6):  # the panel lists again every few seconds
            rows = request(h, comm, "jobs.list", {}, f"l{n + 1}")["data"]["jobs"]
            if rows[0]["state"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.5)
        assert rows[0]["state"] == "COMPLETED", rows
        assert unpickled == []  # watched to its end without reading its value

        shown = request(h, comm, "job.result", {"id": job_id}, "r1")["data"]
        assert (shown["loaded"], shown["text"]) == (False, "")
        assert shown["size"] > RESULT_LOAD_BYTES
        loaded = request(h, comm, "job.result", {"id": job_id, "load": True}, "r2")["data"]
        assert loaded["loaded"] and loaded["text"].startswith("b'\\x00")
        assert cl.job(job_id).result() == bytes(3_000_000)  # asked for: read from its file
    finally:
        h.close()
