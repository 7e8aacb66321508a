"""The comm handler's protocol: each request type, and bad messages answered, never raised.

A recording stand-in replaces the Jupyter comm object (it only stores what is sent); the
handler and everything behind it are real. tests/notebooks/test_comm_kernel.py talks to the
handler through a real kernel.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.ui.comm import EVENT_INTERVAL, PROTOCOL_VERSION, CommHandler


class RecordingComm:
    """Stands in for ipykernel's Comm: records sent messages."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.cond = threading.Condition()

    def send(self, data: dict[str, Any]) -> None:
        with self.cond:
            self.sent.append(data)
            self.cond.notify_all()

    def on_msg(self, callback: Any) -> None:
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def wait_for(self, pred: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for msg in self.sent:
                    if pred(msg):
                        return msg
                left = deadline - time.time()
                assert left > 0, f"no matching message in {self.sent}"
                self.cond.wait(left)


@pytest.fixture
def handler() -> Any:
    comm = RecordingComm()
    h = CommHandler(comm)
    yield h, comm
    h.close()


def request(
    h: CommHandler, comm: RecordingComm, type_: str, data: Any = None, id_: str = "r1"
) -> dict[str, Any]:
    msg = {"v": PROTOCOL_VERSION, "type": type_, "id": id_, "data": data or {}}
    h.comm.callback({"content": {"data": msg}})  # type: ignore[attr-defined]
    return comm.wait_for(lambda m: m.get("id") == id_ and m["type"] == f"{type_}.reply")


def test_hello_carries_the_schema(handler: Any) -> None:
    h, comm = handler
    reply = request(h, comm, "hello")
    assert reply["ok"] and reply["v"] == 1
    names = [f["name"] for f in reply["data"]["schema"]]
    assert names[:3] == ["name", "scheduler", "host"]
    assert all(f["tooltip"] for f in reply["data"]["schema"])
    assert reply["data"]["default_profile"] == "local"


def test_profiles_save_validate_list_delete(handler: Any) -> None:
    h, comm = handler
    bad = request(
        h, comm, "profiles.save", {"profile": {"name": "x", "scheduler": "slurm", "port": 0}}, "a"
    )
    assert not bad["ok"] and bad["error"]["fields"] == {
        "port": "must be a number from 1 to 65535, usually 22"
    }
    assert cl.profiles.list() == ["local"]  # nothing saved
    v = request(h, comm, "profiles.validate", {"profile": {"name": "bad name"}}, "b")
    assert v["ok"] and v["data"]["valid"] is False and "name" in v["data"]["errors"]
    ok = request(
        h,
        comm,
        "profiles.save",
        {"profile": {"name": "hpc", "scheduler": "slurm", "host": "h"}},
        "c",
    )
    assert ok["ok"] and ok["data"]["profile"]["host"] == "h"
    assert cl.profiles.load("hpc").host == "h"  # visible to the Python API at once
    renamed = request(
        h,
        comm,
        "profiles.save",
        {"profile": {"name": "hpc2", "scheduler": "slurm", "host": "h"}, "original": "hpc"},
        "d",
    )
    assert renamed["ok"] and cl.profiles.list() == ["local", "hpc2"]
    listed = request(h, comm, "profiles.list", {}, "e")
    assert [p["name"] for p in listed["data"]["profiles"]] == ["local", "hpc2"]
    assert listed["data"]["profiles"][0]["builtin"] is True
    assert request(h, comm, "profiles.delete", {"name": "hpc2"}, "f")["ok"]
    assert cl.profiles.list() == ["local"]


def test_check_streams_lines_then_replies(handler: Any) -> None:
    h, comm = handler
    reply = request(h, comm, "profiles.check", {"name": "local"}, "chk")
    assert reply["ok"] and reply["data"]["report"]["ok"] is True
    lines = [m["data"]["line"]["name"] for m in comm.sent if m["type"] == "check.line"]
    steps = [
        "connect",
        "scheduler",
        "job directory",
        "python",
        "cloudpickle",
        "packages",
        "ipykernel",
    ]
    assert lines == steps
    assert all(m["data"]["request"] == "chk" for m in comm.sent if m["type"] == "check.line")


def test_jobs_events_logs_and_cancel(handler: Any) -> None:
    h, comm = handler

    @cl.cluster("local")
    def hello() -> int:
        print("hello from the job")
        return 1

    job = hello.submit()
    assert job.result(timeout=60) == 1
    event = comm.wait_for(
        lambda m: (
            m["type"] == "job.event"
            and any(e["id"] == job.id and e["state"] == "COMPLETED" for e in m["data"]["events"])
        )
    )
    assert event["id"] is None  # pushed, not a reply
    listed = request(h, comm, "jobs.list", {}, "l")
    assert [j["id"] for j in listed["data"]["jobs"]] == [job.id]
    assert "usage" in listed["data"]["jobs"][0]  # it finished: what it used is known
    slow = cl.cluster("local")(time.sleep).submit(60)
    active = {"state": ["SUBMITTING", "PENDING", "RUNNING"]}  # submit() does not wait
    running = request(h, comm, "jobs.list", active, "p")["data"]["jobs"]
    assert [j["id"] for j in running] == [slow.id] and "usage" not in running[0]
    slow.cancel()
    logs = request(h, comm, "job.logs", {"id": job.id}, "g")
    assert logs["data"]["text"] == "hello from the job\n"
    slow = cl.cluster("local")(time.sleep).submit(60)
    cancelled = request(h, comm, "job.cancel", {"id": slow.id}, "c")
    assert cancelled["ok"] and cancelled["data"]["state"] == "CANCELLED"
    assert slow.state == cl.JobState.CANCELLED


def test_rows_and_events_say_what_jobs_used_and_item_logs_are_their_own(handler: Any) -> None:
    h, comm = handler

    def shout(x: int) -> int:
        print(f"item {x} speaking")
        return x

    arr = cl.cluster("local", memory="16GB")(shout).map(range(4), chunksize=2)
    assert arr.results(timeout=60) == [0, 1, 2, 3]
    job = cl.cluster("local")(abs).submit(-1)
    job.result(timeout=60)
    done = comm.wait_for(
        lambda m: (
            m["type"] == "job.event"
            and any(e["id"] == job.id and e.get("usage_text") for e in m["data"]["events"])
        )
    )
    event = next(e for e in done["data"]["events"] if e["id"] == job.id)
    assert event["usage"]["max_rss"] > 0 and "peak memory" in event["usage_text"]
    rows = {r["id"]: r for r in request(h, comm, "jobs.list", {}, "l")["data"]["jobs"]}
    assert rows[job.id]["usage"]["max_rss"] > 0 and "peak memory" in rows[job.id]["usage_text"]
    assert rows[arr.id]["usage"]["items"] == 4 and rows[arr.id]["usage_text"].startswith("4 items")
    assert "of 16 GB requested memory" in rows[arr.id]["usage_hint"]
    logs = request(h, comm, "job.logs", {"id": f"{arr.id}:3"}, "g")
    assert logs["data"]["text"] == "item 3 speaking\n"


def test_job_logs_of_each_rank(handler: Any) -> None:
    """The panel shows a multi-task job's logs per rank: the reply says how many ranks
    there are, and 'rank' picks one (rank 0's is the job's own)."""
    h, comm = handler

    def speak() -> None:
        import clusterlab as cl

        print(f"rank {cl.task().rank} speaking")

    job = cl.cluster("local", tasks=3)(speak).submit()
    job.result(timeout=60)
    first = request(h, comm, "job.logs", {"id": job.id}, "a")["data"]
    assert (first["text"], first["rank"], first["ranks"]) == ("rank 0 speaking\n", 0, 3)
    second = request(h, comm, "job.logs", {"id": job.id, "rank": 2}, "b")["data"]
    assert (second["text"], second["rank"]) == ("rank 2 speaking\n", 2)
    bad = request(h, comm, "job.logs", {"id": job.id, "rank": 3}, "c")
    assert not bad["ok"] and "ran 3 tasks, ranks 0 to 2" in bad["error"]["message"]
    plain = request(h, comm, "job.logs", {"id": cl.cluster("local")(abs).submit(-1).id}, "d")
    assert plain["data"]["ranks"] == 1
    arr = cl.cluster("local", tasks=2)(lambda _: speak()).map([0, 1], chunksize=2)  # one task
    assert arr.results(timeout=60) == [None, None]
    item = request(h, comm, "job.logs", {"id": f"{arr.id}:1", "rank": 1}, "e")["data"]
    assert (item["text"], item["ranks"]) == ("rank 1 speaking\n", 2)


def test_events_are_throttled(handler: Any) -> None:
    _, comm = handler
    arr = cl.cluster("local")(abs).map(range(-30, 0))
    arr.results(timeout=120)
    time.sleep(3 * EVENT_INTERVAL)
    batches = [m for m in comm.sent if m["type"] == "job.event"]
    # 30 items x ~3 transitions, but sent as a few batches with one entry per array
    assert 1 <= len(batches) < 30
    last = [e for m in batches for e in m["data"]["events"] if e["id"] == arr.id][-1]
    assert last["kind"] == "array" and last["counts"] == {"COMPLETED": 30}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"v": 1, "type": "nope", "id": "x"}, "unknown request type 'nope'"),
        ({"v": 99, "type": "hello", "id": "x"}, "protocol version 99 is not supported"),
        ({"v": 1, "type": "hello"}, "needs a non-empty string 'id'"),
        (
            {"v": 1, "type": "profiles.get", "id": "x", "data": {}},
            "'name' (a profile name) is required",
        ),
        (
            {"v": 1, "type": "profiles.get", "id": "x", "data": {"name": "ghost"}},
            "no profile named 'ghost'",
        ),
        ({"v": 1, "type": "job.cancel", "id": "x", "data": {"id": "ghost"}}, "no job 'ghost'"),
        ({"v": 1, "type": "hello", "id": "x", "data": [1]}, "'data' must be an object"),
    ],
)
def test_bad_messages_get_clear_errors(
    handler: Any, message: dict[str, Any], expected: str
) -> None:
    h, comm = handler
    h.comm.callback({"content": {"data": message}})
    reply = comm.wait_for(lambda m: m.get("ok") is False)
    assert expected in reply["error"]["message"]


def test_non_object_message_is_answered(handler: Any) -> None:
    h, comm = handler
    h.comm.callback({"content": {"data": "hello"}})
    assert (
        comm.wait_for(lambda m: m["type"] == "error")["error"]["message"]
        == "a message must be an object"
    )


def test_a_job_whose_kernel_is_gone_is_watched_by_the_panel_until_it_ends(
    handler: Any,
) -> None:
    """Issue 15, broken 1: after a kernel restart its running job stayed RUNNING in the
    panel forever. Another process (the kernel before its restart) submits and dies; the
    panel's jobs.list sees the row RUNNING and reattaches it; with nobody else watching, the
    panel's next listings show it ended (it stayed RUNNING before)."""
    import subprocess
    import sys

    h, comm = handler
    script = (
        "import os, time, clusterlab as cl\n"
        "job = cl.cluster('local')(time.sleep).submit(4)\n"
        "while [r.state for r in cl.jobs()] != ['RUNNING']: time.sleep(0.05)  # as recorded\n"
        "print(job.id, flush=True)\n"
        "os._exit(0)  # the kernel is gone, its job runs on\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    job_id = out.stdout.split()[-1]
    listed = request(h, comm, "jobs.list", {}, "l1")["data"]["jobs"]
    assert [(j["id"], j["state"]) for j in listed] == [(job_id, "RUNNING")]
    deadline = time.time() + 90  # the panel lists again (it does every few seconds)
    for n in range(10**6):
        again = request(h, comm, "jobs.list", {}, f"l{n + 2}")["data"]["jobs"]
        if again[0]["state"] != "RUNNING" or time.time() > deadline:
            break
        time.sleep(0.5)
    assert [(j["id"], j["state"]) for j in again] == [(job_id, "COMPLETED")], again


def test_job_logs_reads_only_the_tail_and_pages_back(handler: Any) -> None:
    """ "Show log" of a job with a 256 MB stdout brings 64 KiB, not the file: the kernel
    read the whole log to keep its end (a 10 GB stdout exhausted it). Earlier pages come
    with "before"."""
    from clusterlab.core.runtime import get_runtime

    h, comm = handler
    job = cl.cluster("local")(print).submit("first line")
    assert job.result(timeout=60) is None
    path = os.path.join(job.job_dir, "stdout")
    with open(path, "r+b") as fh:  # sparse: no disk used; the end is real text
        fh.truncate(256 * 1024 * 1024)
        fh.seek(0, os.SEEK_END)
        fh.write("the end é\n".encode())
    transport = get_runtime(cl.profiles.load("local")).transport
    biggest = [0]
    real_files, real_ranges = transport.read_files, transport.read_ranges

    def files(paths: Any) -> Any:
        got = real_files(paths)
        biggest[0] = max([biggest[0], *(len(v or b"") for v in got.values())])
        return got

    def ranges(spans: Any, *args: Any, **kw: Any) -> Any:
        got = real_ranges(spans, *args, **kw)
        biggest[0] = max([biggest[0], *(len(g[1]) for g in got if g)])
        return got

    transport.read_files = files  # type: ignore[method-assign]
    transport.read_ranges = ranges  # type: ignore[method-assign]
    try:
        logs = request(h, comm, "job.logs", {"id": job.id}, "g")["data"]
        size = 256 * 1024 * 1024 + len("the end é\n".encode())
        assert logs["text"].endswith("the end é\n") and logs["truncated"] is True
        assert biggest[0] < 1024 * 1024  # the tail travelled, not the file
        assert logs["size"] == size and logs["start"] == size - 64 * 1024
        first = request(h, comm, "job.logs", {"id": job.id, "before": 11}, "p")["data"]
        assert first["text"] == "first line\n" and first["start"] == 0
        assert first["truncated"] is False
        bad = request(h, comm, "job.logs", {"id": job.id, "before": "x"}, "b")
        assert not bad["ok"] and "byte offset" in bad["error"]["message"]
    finally:
        transport.read_files = real_files  # type: ignore[method-assign]
        transport.read_ranges = real_ranges  # type: ignore[method-assign]


def test_rows_and_events_say_which_attempt_a_retried_job_is(handler: Any) -> None:
    """The panel shows "attempt 2 of 3" from the row and from live events."""
    h, comm = handler

    def flaky() -> int:
        import clusterlab as cl

        tries = cl.checkpoint.load(0)
        cl.checkpoint.save(tries + 1)
        if tries == 0:
            raise OSError("first try fails")
        return tries

    f = cl.cluster("local", retries=2, retry_on=OSError, retry_backoff=0)(flaky)
    job = f.submit()
    assert job.result(timeout=60) == 1
    done = comm.wait_for(
        lambda m: (
            m["type"] == "job.event"
            and any(
                e["id"] == job.id and e.get("attempt_text") == "attempt 2 of 3"
                for e in m["data"]["events"]
            )
        )
    )
    assert done["data"]["events"]
    rows = {r["id"]: r for r in request(h, comm, "jobs.list", {}, "l")["data"]["jobs"]}
    assert rows[job.id]["attempt_text"] == "attempt 2 of 3"
    assert rows[job.id]["history"]["runs"][0]["cause"] == "raised OSError: first try fails"
