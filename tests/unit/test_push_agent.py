"""The status agent (remote/agent.py) as a real process on this machine: what it pushes,
what it refuses, and that it ends with its stdin. Run with Debian's /usr/bin/python3 (a
different interpreter from the kernel's, as on a cluster), through the local transport's
open_stream, in both its inotify and its stat-loop mode."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterlab.core.watching.agentlink import AGENT_SOURCE
from clusterlab.transports.local import LocalTransport
from clusterlab.transports.stream import Stream

pytestmark = pytest.mark.timeout(60)
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


class Agent:
    """An agent process and the JSON lines it printed, read on a thread."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.out: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.next()

    def _read(self) -> None:
        for line in self.stream.lines():
            self.out.put(json.loads(line))

    def send(self, text: str) -> None:
        self.stream.write(text.encode() + b"\n")

    def next(self, timeout: float = 10) -> dict[str, Any]:
        return self.out.get(timeout=timeout)

    def lines(self, n: int) -> list[tuple[str, str, int, str]]:
        """The next ``n`` status lines, past the end/item records pushed before them."""
        got: list[dict[str, Any]] = []
        while len(got) < n:
            record = self.next()
            if "end" not in record and "item" not in record:
                got.append(record)
        return [(Path(r["dir"]).name, r["file"], r["offset"], r["line"]) for r in got]

    def quiet(self, seconds: float = 0.3) -> bool:
        try:
            extra = self.out.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected line from the agent: {extra}")


@pytest.fixture(params=["inotify", "stat"])
def agent(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Agent]:
    if request.param == "stat":
        monkeypatch.setenv("CLUSTERLAB_AGENT_STAT_ONLY", "1")
    monkeypatch.chdir(tmp_path)  # where a shell, if any ran a name, would leave files
    root = tmp_path / "jobs"
    root.mkdir()
    stream = LocalTransport().open_stream([PYTHON, "-c", AGENT_SOURCE, str(root)])
    a = Agent(stream)
    assert a.hello["inotify"] is (request.param == "inotify")
    yield a
    stream.close()


def test_pushes_whole_lines_of_status_files_as_they_are_written(
    agent: Agent, tmp_path: Path
) -> None:
    job = tmp_path / "jobs" / "j1"
    job.mkdir()
    (job / "status").write_text('{"event": "started"}\n')
    agent.send(f"watch {job}")
    assert agent.lines(1) == [("j1", "status", 0, '{"event": "started"}')]  # from the start
    with open(job / "status", "a") as fh:
        fh.write('{"event": "fin')  # a line being written is held back ...
        fh.flush()
        assert agent.quiet()
        fh.write('ished"}\n')  # ... until it is whole
    end = agent.next()  # (what the kernel needs at a job's end comes just before it)
    assert end == {"dir": str(job), "end": 1, "sizes": {}}
    assert agent.lines(1) == [("j1", "status", 21, '{"event": "finished"}')]
    (job / "status.3").write_text('{"event": "item-started"}\n')  # an array task's file
    (job / "result.pkl").write_bytes(b"not a status file\n")
    (job / "status.3.tmp").write_text("not a status file either\n")
    assert agent.lines(1) == [("j1", "status.3", 0, '{"event": "item-started"}')]
    assert agent.quiet()


def test_unwatched_dirs_are_silent(agent: Agent, tmp_path: Path) -> None:
    job = tmp_path / "jobs" / "j2"
    job.mkdir()
    agent.send(f"watch {job}")
    agent.send(f"unwatch {job}")
    agent.send(f"watch {tmp_path / 'jobs' / 'j3'}")  # not there (yet): no error, no lines
    agent.send("ping")  # answered (refused) only after the commands before it were done
    assert agent.next()["refused"] == "ping"
    (job / "status").write_text('{"event": "started"}\n')
    assert agent.quiet()


@pytest.mark.parametrize(
    "path",
    [
        "relative/dir",
        "{root}/../elsewhere",
        "{root}/j1/",
        "{root}//j1",
        "{root}/j1/deeper",
        "{root}",
        "/etc",
        "{root}/a\x1bb",
        "{root}/.",
    ],
)
def test_hostile_job_dirs_are_refused(agent: Agent, tmp_path: Path, path: str) -> None:
    agent.send("watch " + path.format(root=tmp_path / "jobs"))
    refused = agent.next()
    assert "refused" in refused
    assert refused["why"]


def test_shell_syntax_in_a_name_is_only_a_name(agent: Agent, tmp_path: Path) -> None:
    """A job dir named like a command is followed as a name and never run by a shell."""
    marker = tmp_path / "pwned"
    job = tmp_path / "jobs" / f"$(touch {marker.name}); `touch {marker.name}`"
    job.mkdir()
    agent.send(f"watch {job}")
    (job / "status").write_text("{}\n")
    assert agent.lines(1) == [(job.name, "status", 0, "{}")]
    assert not marker.exists()


def test_unknown_commands_are_refused(agent: Agent) -> None:
    agent.send("rm -rf /")
    assert agent.next()["why"].startswith("unknown command")


def test_the_agent_exits_when_its_stdin_closes(agent: Agent) -> None:
    pid = agent.hello["pid"]
    assert Path(f"/proc/{pid}").exists()
    assert isinstance(agent.stream, Stream)
    agent.stream.write(b"")  # still open
    proc = agent.stream.proc  # type: ignore[attr-defined]
    assert proc.stdin is not None
    proc.stdin.close()  # what a closed SSH channel does to it
    assert proc.wait(timeout=5) == 0
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_an_agent_without_a_jobs_root_says_how_to_start_it() -> None:
    stream = LocalTransport().open_stream([PYTHON, "-c", AGENT_SOURCE, "relative"])
    assert list(stream.lines()) == []
    stream.close()
    assert "usage: agent.py JOBS_ROOT" in stream.stderr_text()


def test_only_regular_files_are_read(agent: Agent, tmp_path: Path) -> None:
    """A FIFO named status.1 (opened without O_NONBLOCK it waits for a writer forever) and
    a directory named status.2 (reading it raised and ended the agent) are passed over:
    the agent goes on pushing the real status lines, of this job and of others."""
    job = tmp_path / "jobs" / "j1"
    job.mkdir()
    os.mkfifo(job / "status.1")
    (job / "status.2").mkdir()
    (job / "status.0").write_text('{"event": "started"}\n')
    agent.send(f"watch {job}")
    assert agent.lines(1) == [("j1", "status.0", 0, '{"event": "started"}')]
    other = tmp_path / "jobs" / "j2"
    other.mkdir()
    (other / "status").write_text('{"event": "finished"}\n')
    agent.send(f"watch {other}")
    assert agent.lines(1) == [("j2", "status", 0, '{"event": "finished"}')]
    with open(job / "status.0", "a") as fh:
        fh.write('{"event": "item-finished"}\n')
    assert agent.lines(1) == [("j1", "status.0", 21, '{"event": "item-finished"}')]


def _log(record: dict[str, Any]) -> tuple[str, int, bytes, bool]:
    import base64

    return record["log"], record["offset"], base64.b64decode(record["data"]), record["more"]


def test_followed_logs_are_pushed_as_written_from_the_offset_asked(
    agent: Agent, tmp_path: Path
) -> None:
    """Live output: the bytes of stdout from the kernel's offset on, without status lines
    of a dir that is only followed, not watched."""
    job = tmp_path / "jobs" / "j7"
    job.mkdir()
    (job / "status").write_text('{"event": "started"}\n')
    (job / "stdout").write_bytes(b"already read\nnew \xff\n")
    agent.send(f"follow {job} stdout 13")
    assert _log(agent.next()) == ("stdout", 13, b"new \xff\n", False)
    with open(job / "stdout", "ab") as fh:
        fh.write(b"partial line")  # output is pushed as written, whole lines or not
        fh.flush()
        assert _log(agent.next()) == ("stdout", 19, b"partial line", False)
    (job / "stderr").write_bytes(b"not followed\n")
    assert agent.quiet()
    agent.send(f"unfollow {job} stdout")
    with open(job / "stdout", "ab") as fh:
        fh.write(b"after unfollow\n")
    assert agent.quiet()


def test_a_log_past_the_cap_is_paused_until_the_kernel_says_where_to_go_on(
    agent: Agent, tmp_path: Path
) -> None:
    """Bounded: at most the per-job cap is pushed with "more"; nothing more comes until a
    new follow (the kernel read the rest itself) and then only what follows its offset."""
    cap = 64 * 1024
    job = tmp_path / "jobs" / "j8"
    job.mkdir()
    (job / "stdout").write_bytes(b"x" * (3 * cap))
    agent.send(f"follow {job} stdout 0")
    name, offset, data, more = _log(agent.next())
    assert (name, offset, len(data), more) == ("stdout", 0, cap, True)
    with open(job / "stdout", "ab") as fh:
        fh.write(b"tail\n")
    assert agent.quiet(1.5)  # paused, even past the window
    agent.send(f"follow {job} stdout {3 * cap}")  # the kernel read up to here
    assert _log(agent.next(timeout=5)) == ("stdout", 3 * cap, b"tail\n", False)


@pytest.mark.parametrize(
    "log", ["status", "../../etc/passwd", "stdout.1/x", "stdout.-1", "stdout 5", ""]
)
def test_only_log_names_can_be_followed(agent: Agent, tmp_path: Path, log: str) -> None:
    job = tmp_path / "jobs" / "j9"
    job.mkdir()
    agent.send(f"follow {job} {log} 0")
    assert "why" in agent.next()
    assert agent.quiet()


@pytest.mark.parametrize("offset", ["\u00b2", "-1", "1e3", "9" * 30, ""])
def test_a_follow_with_a_bad_offset_is_refused_and_the_agent_goes_on(
    agent: Agent, tmp_path: Path, offset: str
) -> None:
    job = tmp_path / "jobs" / "j11"
    job.mkdir()
    (job / "stdout").write_bytes(b"out\n")
    agent.send(f"follow {job} stdout {offset}")
    assert "why" in agent.next()
    agent.send(f"follow {job} stdout 0")  # still there
    assert _log(agent.next())[2] == b"out\n"


def test_a_follow_outside_the_jobs_root_is_refused(agent: Agent, tmp_path: Path) -> None:
    agent.send(f"follow {tmp_path} stdout 0")
    assert "not a job directory" in agent.next()["why"]


def test_a_dir_followed_before_it_exists_is_pushed_as_written_once_it_does(
    agent: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job followed while it is still being submitted: its dir comes later. Lines then
    come as written (inotify), not at the next slow sweep (every second; here never)."""
    if agent.hello["inotify"]:
        agent.stream.close()  # this one again, with sweeps that never come
        monkeypatch.setenv("CLUSTERLAB_AGENT_RESCAN", "3600")
        root = tmp_path / "jobs"
        agent = Agent(LocalTransport().open_stream([PYTHON, "-c", AGENT_SOURCE, str(root)]))
    job = tmp_path / "jobs" / "j10"
    agent.send(f"follow {job} stdout 0")
    assert agent.quiet()
    job.mkdir()
    agent.send(f"watch {job}")  # what the kernel sends once the job is submitted
    (job / "status").write_text("{}\n")
    assert agent.lines(1) == [("j10", "status", 0, "{}")]
    for i in range(3):
        with open(job / "stdout", "ab") as fh:
            fh.write(f"line {i}\n".encode())
        assert _log(agent.next())[2] == f"line {i}\n".encode()
    agent.stream.close()


def test_a_jobs_end_brings_its_log_sizes_and_small_results_before_its_line(
    agent: Agent, tmp_path: Path
) -> None:
    """What the kernel would otherwise read in two more round trips (the result, and the
    last output of a followed job) comes pushed just before the line that ends the job or
    item; a result too large to push is left for the kernel to read."""
    import base64

    from clusterlab.remote.agent import ITEM_RESULT_MAX

    job = tmp_path / "jobs" / "j1"
    (job / "results").mkdir(parents=True)
    (job / "stdout").write_bytes(b"hello\n")
    (job / "stderr").write_bytes(b"")
    agent.send(f"watch {job}")
    (job / "results" / "3.pkl").write_bytes(b"\x80item three")
    (job / "results" / "4.pkl").write_bytes(b"x" * (ITEM_RESULT_MAX + 1))
    with open(job / "status.0", "a") as fh:
        fh.write('{"event": "item-finished", "time": 1, "index": 3}\n')
        fh.write('{"event": "item-finished", "time": 1, "index": 4}\n')
    item = agent.next()
    assert item == {
        "dir": str(job),
        "item": 3,
        "result": base64.b64encode(b"\x80item three").decode(),
    }
    assert [line[1:3] for line in agent.lines(2)] == [("status.0", 0), ("status.0", 50)]
    (job / "result.pkl").write_bytes(b"\x80the value")
    with open(job / "status", "a") as fh:
        fh.write('{"event": "finished", "outcome": "ok"}\n')
    end = agent.next()
    assert end["sizes"] == {"stdout": 6, "stderr": 0}
    assert base64.b64decode(end["result"]) == b"\x80the value"
    assert agent.lines(1)[0][1] == "status"
    assert agent.quiet()
