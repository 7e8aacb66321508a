"""Issue 25, defect 9: "Clear finished" was kept in one browser's storage, so another
browser (or a reload in a private window) still listed every job. It is kept in the
ledger now: a ``jobs.clear`` from one panel hides the finished jobs from every panel's
``jobs.list``; ``jobs.unclear`` shows them again; ``cl.jobs()`` keeps the record. Real
local jobs; two comm handlers stand for two browsers."""

from __future__ import annotations

import time
from typing import Any

import clusterlab as cl
from clusterlab.ui.comm import CommHandler

from .test_comm import RecordingComm, request


def _panel() -> tuple[CommHandler, RecordingComm]:
    comm = RecordingComm()
    return CommHandler(comm), comm


def _ids(reply: dict[str, Any]) -> list[str]:
    assert reply["ok"], reply
    return [row["id"] for row in reply["data"]["jobs"]]


def test_clear_finished_is_seen_by_every_panel_and_kept_by_the_ledger() -> None:
    first, first_comm = _panel()
    other, other_comm = _panel()
    try:
        done = cl.cluster("local")(abs).submit(-1)
        assert done.result(timeout=60) == 1
        slow = cl.cluster("local")(time.sleep).submit(60)
        assert set(_ids(request(other, other_comm, "jobs.list", {}, "l0"))) >= {done.id, slow.id}

        cleared = request(first, first_comm, "jobs.clear", {}, "c1")
        assert cleared["ok"] and cleared["data"] == {"cleared": 1}

        seen = request(other, other_comm, "jobs.list", {}, "l1")
        assert _ids(seen) == [slow.id]  # the other browser agrees at once
        assert (seen["data"]["total"], seen["data"]["cleared"]) == (1, 1)
        everything = request(other, other_comm, "jobs.list", {"include_cleared": True}, "l2")
        assert set(_ids(everything)) == {done.id, slow.id}
        assert everything["data"]["cleared"] == 0
        assert done.id in [r.id for r in cl.jobs()]  # the record keeps it

        slow.cancel()  # ends after the clear: listed as usual
        assert set(_ids(request(first, first_comm, "jobs.list", {}, "l3"))) == {slow.id}

        shown = request(other, other_comm, "jobs.unclear", {}, "u1")
        assert shown["ok"] and shown["data"] == {"shown": 1}
        again = request(first, first_comm, "jobs.list", {}, "l4")
        assert set(_ids(again)) == {done.id, slow.id} and again["data"]["cleared"] == 0

        bad = request(first, first_comm, "jobs.list", {"include_cleared": 1}, "l5")
        assert bad["error"]["message"] == "'include_cleared' must be true or false"
    finally:
        first.close()
        other.close()
