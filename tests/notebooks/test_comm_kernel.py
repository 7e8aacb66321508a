"""The comm through a real kernel, the way the lab panel uses it: load the extension
silently, open the 'clusterlab' comm, send requests, receive replies and pushed events."""

from __future__ import annotations

import queue
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)


def comm_messages(kc: Any, comm_id: str, until: Any, timeout: float = 60) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            seen.append(msg["content"]["data"])
            if until(seen):
                return seen
    raise AssertionError(f"timed out; got {seen}")


def test_panel_protocol_over_a_real_kernel(kernel: Any) -> None:
    kc = kernel
    # What the panel does for a kernel that lacks the extension: load it silently.
    kc.execute_interactive("%load_ext clusterlab", silent=True, store_history=False, timeout=60)
    comm_id = uuid.uuid4().hex

    def send(msg_type: str, content: dict[str, Any]) -> None:
        kc.shell_channel.send(kc.session.msg(msg_type, content))

    send("comm_open", {"comm_id": comm_id, "target_name": "clusterlab", "data": {}})
    send("comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "hello", "id": "h1"}})
    (hello,) = comm_messages(kc, comm_id, lambda s: any(m.get("id") == "h1" for m in s))
    assert hello["ok"] and hello["data"]["protocol"] == 1

    code = (
        "import clusterlab as cl\n"
        "job = cl.cluster('local')(abs).submit(-7)\n"
        "print(job.result(timeout=60))"
    )
    kc.execute(code)
    events = comm_messages(
        kc,
        comm_id,
        lambda s: any(
            e["state"] == "COMPLETED"
            for m in s
            if m["type"] == "job.event"
            for e in m["data"]["events"]
        ),
    )
    job_id = next(e["id"] for m in events if m["type"] == "job.event" for e in m["data"]["events"])
    send("comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "jobs.list", "id": "j1"}})
    replies = comm_messages(kc, comm_id, lambda s: any(m.get("id") == "j1" for m in s))
    listed = next(m for m in replies if m.get("id") == "j1")
    assert listed["type"] == "jobs.list.reply"
    assert listed["data"]["jobs"][0]["id"] == job_id
    assert listed["data"]["jobs"][0]["state"] == "COMPLETED"


def test_importing_clusterlab_in_a_kernel_registers_the_panel_comm(kernel: Any) -> None:
    """Issue 25, defect 9: the panel, before it is shown, only watches kernels that have
    the comm target, and runs nothing in them; a notebook that just does
    ``import clusterlab as cl`` (no ``%load_ext``) must have it, or its jobs' endings are
    never announced. Before, the target existed only after ``%load_ext``."""
    kc = kernel
    kc.execute_interactive("import clusterlab as cl", timeout=60)
    comm_id = uuid.uuid4().hex
    kc.shell_channel.send(
        kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "clusterlab", "data": {}})
    )
    hello = {"v": 1, "type": "hello", "id": "h1"}
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": hello}))
    (reply,) = comm_messages(kc, comm_id, lambda s: any(m.get("id") == "h1" for m in s))
    assert reply["ok"] and reply["data"]["protocol"] == 1
