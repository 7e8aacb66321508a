"""The lab panel's log view follows a running job through the comm (``job.follow``,
pushed ``job.output``; issue 30 item 5), on the real sandbox over SSH: lines arrive in
order, complete and once, each message saying its byte range; unfollowing, the job's end
and the comm's close each leave nothing following (no follower in the watcher, no thread).

Causal, not timed: the job prints line i, then waits until the test has SEEN it in a
``job.output`` message (the test creates ``go.i``), so no line can come from a final read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.core.model.job import Job
from clusterlab.core.runtime import get_runtime
from clusterlab.ui.comm import CommHandler
from clusterlab.ui.comm.output import OUTPUT_BYTES
from tests.conftest import ssh_profile
from tests.integration.test_follow_push import _lockstep, _loud
from tests.unit.test_comm import RecordingComm

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("no_other_agents")]
LINES = 12


@pytest.fixture
def panel() -> Iterator[tuple[CommHandler, RecordingComm]]:
    comm = RecordingComm()
    handler = CommHandler(comm)
    yield handler, comm
    handler.close()


def _request(handler: CommHandler, comm: RecordingComm, type_: str, **data: Any) -> Any:
    rid = f"r{len(comm.sent)}-{type_}"
    handler.handle({"v": 1, "type": type_, "id": rid, "data": data})
    reply = comm.wait_for(lambda m: m.get("id") == rid)
    assert reply["ok"], reply
    return reply["data"]


def _outputs(comm: RecordingComm, job_id: str) -> list[dict[str, Any]]:
    with comm.cond:
        return [
            m["data"] for m in comm.sent if m["type"] == "job.output" and m["data"]["id"] == job_id
        ]


def _no_output_thread() -> bool:
    return not any(t.name == "clusterlab-comm-output" for t in threading.enumerate())


def _wait(pred: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"still {what} after {timeout} s"
        time.sleep(0.05)


def _start(sandbox: object, name: str, shared: str) -> tuple[cl.Profile, Job]:
    """A lockstep job, followed from the start (also while still being submitted)."""
    profile = ssh_profile(sandbox, name=name, poll_interval=30.0)
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(_lockstep).submit(shared, LINES)
    return profile, job


def _followed_to_line_0(
    sandbox: object, name: str, shared: str, panel: tuple[CommHandler, RecordingComm]
) -> tuple[cl.Profile, Job]:
    """A lockstep job followed through the panel until its line 0 came in a job.output
    message: the job now waits for go.0, so the test acts while it runs."""
    handler, comm = panel
    profile, job = _start(sandbox, name, shared)
    assert _request(handler, comm, "job.follow", id=job.id, offset=0)["following"]
    _see(comm, job.id, shared, 1)
    return profile, job


def _finish(shared: str, job: Job) -> None:
    """Release every line of a lockstep job: it prints the rest and ends."""
    for i in range(LINES):
        open(f"{shared}/go.{i}", "a").close()
    assert job.result(timeout=60) == LINES


def _see(comm: RecordingComm, job_id: str, shared: str, upto: int) -> str:
    """Release lines as they are seen in job.output messages; the text, once each byte."""
    got, end = "", None
    deadline = time.monotonic() + 120
    seen = 0
    while True:
        outputs = _outputs(comm, job_id)
        for out in outputs[seen:]:
            assert "error" not in out, out
            if end is not None:
                assert out["offset"] == end, f"a gap or a repeat: {out} after byte {end}"
            got += out["text"]
            end = out["end"]
            assert len(got.encode()) == end  # followed from byte 0: the text is the log
        seen = len(outputs)
        for i in range(upto):
            if f"line {i}\n" in got:
                open(f"{shared}/go.{i}", "a").close()
        if (outputs and outputs[-1]["ended"]) or all(f"line {i}\n" in got for i in range(upto)):
            return got
        assert time.monotonic() < deadline, f"only {got!r} came"
        time.sleep(0.02)


def test_a_running_jobs_lines_are_pushed_in_order_once_and_the_follow_ends_with_it(
    sandbox: object, lockstep_dir: str, panel: tuple[CommHandler, RecordingComm]
) -> None:
    handler, comm = panel
    profile, job = _start(sandbox, "panelfollow", lockstep_dir)
    reply = _request(handler, comm, "job.follow", id=job.id, stream="stdout", offset=0)
    assert reply["following"], reply
    got = _see(comm, job.id, lockstep_dir, LINES)
    assert job.result(timeout=60) == LINES
    _wait(lambda: _outputs(comm, job.id)[-1]["ended"], "following after the job ended")
    last = _outputs(comm, job.id)[-1]
    assert last["state"] == "COMPLETED" and last["end"] == len(got.encode())
    assert got == "".join(f"line {i}\n" for i in range(LINES))  # in order, complete, once
    assert not any(m["type"] == "job.logs.reply" for m in comm.sent)  # never asked again
    runtime = get_runtime(profile)
    assert runtime.push.shared.logs.log_bytes >= len(got)  # pushed by the agent, not read
    _wait(lambda: not runtime.watcher.followers, "a follower left in the watcher")
    _wait(_no_output_thread, "the comm's output thread running")
    assert handler.handlers["job.follow"]  # (the topic itself stays for the next follow)


def test_unfollow_stops_the_pushes_and_leaves_no_follower(
    sandbox: object, lockstep_dir: str, panel: tuple[CommHandler, RecordingComm]
) -> None:
    handler, comm = panel
    profile, job = _followed_to_line_0(sandbox, "panelunfollow", lockstep_dir, panel)
    stopped = _request(handler, comm, "job.unfollow", id=job.id)
    assert stopped == {"id": job.id, "stopped": 1}
    runtime = get_runtime(profile)
    assert not runtime.watcher.followers  # at once, not at the job's end
    count = len(_outputs(comm, job.id))
    _finish(lockstep_dir, job)  # the job prints the rest now
    _wait(_no_output_thread, "the comm's output thread running")
    assert len(_outputs(comm, job.id)) == count  # nothing after the unfollow
    assert "line 3" in job.stdout()  # (the lines were printed: just not pushed)


def test_closing_the_comm_unfollows(
    sandbox: object, lockstep_dir: str, panel: tuple[CommHandler, RecordingComm]
) -> None:
    handler, _ = panel
    profile, job = _followed_to_line_0(sandbox, "panelclose", lockstep_dir, panel)
    handler.close()
    assert not get_runtime(profile).watcher.followers
    _wait(_no_output_thread, "the comm's output thread running")
    _finish(lockstep_dir, job)


def test_a_loud_job_is_sent_in_bounded_messages_that_match_the_log(
    sandbox: object, panel: tuple[CommHandler, RecordingComm]
) -> None:
    """600 KiB at once: no message carries more than OUTPUT_BYTES; each one's text is the
    log's bytes at its range (a message may start past the last one's end: those bytes are
    there for job.logs's 'before'), and the last one ends at the log's end."""
    handler, comm = panel
    profile = ssh_profile(sandbox, name="panelloud", poll_interval=30.0)
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(_loud).submit(600)
    reply = _request(handler, comm, "job.follow", id=job.id, offset=0)
    assert reply["following"], reply  # (submitted, not ended: it follows from byte 0)
    assert job.result(timeout=120) == 600
    _wait(lambda: any(o["ended"] for o in _outputs(comm, job.id)), "no end")
    log = job.stdout().encode()
    outputs = _outputs(comm, job.id)
    end = skipped = 0
    for out in outputs:
        assert out["end"] - out["offset"] <= OUTPUT_BYTES
        skipped += out["offset"] - end
        assert out["offset"] >= end  # never a byte twice
        assert out["text"].encode() == log[out["offset"] : out["end"]]
        end = out["end"]
    assert end == len(log)
    print(f"{len(log)} bytes in {len(outputs)} job.output messages, {skipped} left to job.logs")
    _wait(lambda: not get_runtime(profile).watcher.followers, "a follower left")


def test_what_cannot_be_followed_says_why(
    sandbox: object, panel: tuple[CommHandler, RecordingComm]
) -> None:
    handler, comm = panel
    profile = ssh_profile(sandbox, name="panelnofollow", poll_interval=30.0)
    cl.profiles.save(profile)
    arr = cl.cluster(profile.name)(abs).map([-1, -2])
    single = cl.cluster(profile.name)(abs).submit(-3)
    arr.wait()
    assert single.result(timeout=60) == 3
    item = _request(handler, comm, "job.follow", id=f"{arr.id}:0")
    assert not item["following"] and "every 2 s" in item["reason"]
    ended = _request(handler, comm, "job.follow", id=single.id)
    assert not ended["following"] and "has ended (COMPLETED)" in ended["reason"]
    handler.handle(
        {"v": 1, "type": "job.follow", "id": "bad", "data": {"id": arr.id, "offset": -1}}
    )
    bad = comm.wait_for(lambda m: m.get("id") == "bad")
    assert not bad["ok"] and "'offset' must be a byte offset" in bad["error"]["message"]
    assert not get_runtime(profile).watcher.followers
