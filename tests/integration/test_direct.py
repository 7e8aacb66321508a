"""What only ``direct`` does: its queue lives on the host, not in the kernel.

The conformance suite (test_conformance.py, dialect ``direct``) covers what every
scheduler does. Here: queued jobs outlive the client that queued them, the concurrency
limit holds across clients (measured from the jobs' own clocks), the time limit is enforced
on the host with no client left, cancel ends the job's whole session, and a killed
dispatcher is replaced by one that adopts the job it left running. Over the sandbox's
real sshd (marks ``sandbox`` and ``direct``), or on this machine where SSH adds nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.backends import direct
from clusterlab.backends.base import WatchTarget
from clusterlab.common.jobdir import status_file
from clusterlab.core.runtime import get_runtime
from clusterlab.transports.local import LocalTransport

from .direct_support import direct_profile, drain, here_profile
from .test_conformance import gone, max_overlap, until

pytestmark = [pytest.mark.timeout(300), pytest.mark.direct]


def _kernel(profile: cl.Profile, body: str) -> subprocess.Popen[str]:
    """Another client process (a kernel) using ``profile``; its stdout is a pipe."""
    script = f"import json, os, sys, time\nimport clusterlab as cl\nP = {profile.name!r}\n"
    return subprocess.Popen(
        [sys.executable, "-c", script + textwrap.dedent(body)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


@pytest.fixture
def over_ssh(sandbox: object) -> Iterator[cl.Profile]:
    profile = direct_profile(sandbox, name="dssh", max_concurrent=2)
    cl.profiles.save(profile)
    yield profile
    drain(profile)


@pytest.fixture
def here(tmp_path: Path) -> Iterator[cl.Profile]:
    profile = here_profile(tmp_path, max_concurrent=1)
    cl.profiles.save(profile)
    yield profile
    drain(profile)


def _runner_status(profile: cl.Profile, job: cl.Job) -> dict[str, object]:
    text = get_runtime(profile).read_log(job, status_file())
    return next(json.loads(ln) for ln in text.splitlines() if '"started"' in ln)


def _session(pid: int) -> list[int]:
    """Every process of this machine in session ``pid`` (the sandbox host is this one)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == pid:
                members.append(int(entry.name))
    return members


@pytest.mark.sandbox
def test_queued_jobs_outlive_the_client_that_queued_them(over_ssh: cl.Profile) -> None:
    """A kernel queues jobs behind a running one and is killed (its SSH connection dies
    with it); they still start, on the host, and this process collects every result."""
    proc = _kernel(
        over_ssh,
        """
        f = cl.cluster(P)(lambda s: (time.sleep(s), time.time())[1])
        jobs = [f.submit(3), f.submit(3), f.submit(0), f.submit(0)]  # 2 run, 2 queued
        while any(j.state == cl.JobState.SUBMITTING for j in jobs): time.sleep(0.02)  # accepted
        print(json.dumps([j.id for j in jobs]), flush=True)
        time.sleep(600)
        """,
    )
    assert proc.stdout is not None
    ids = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.time()
    jobs = [cl.job(i) for i in ids]
    ended = [j.result(timeout=120) for j in jobs]  # type: ignore[union-attr]
    assert all(j.state == cl.JobState.COMPLETED for j in jobs)
    queued = jobs[2:]
    for job in queued:  # started by the host queue once a slot was free: after the kill
        assert isinstance(job, cl.Job) and job.started_at is not None
        assert job.started_at > killed
    assert min(ended[2:]) > killed


@pytest.mark.sandbox
def test_the_limit_holds_across_clients(over_ssh: cl.Profile) -> None:
    """Two processes share one host queue (max_concurrent=2): never more than two jobs
    overlap, by the jobs' own clocks, and a waiting job says why."""

    def span(seconds: float) -> tuple[float, float]:
        start = time.time()
        time.sleep(seconds)
        return start, time.time()

    proc = _kernel(
        over_ssh,
        """
        def span(seconds):
            start = time.time()
            time.sleep(seconds)
            return start, time.time()

        jobs = [cl.cluster(P)(span).submit(1.5) for _ in range(3)]
        print(json.dumps([j.result(timeout=120) for j in jobs]), flush=True)
        """,
    )
    mine = [cl.cluster(over_ssh.name)(span).submit(1.5) for _ in range(3)]
    until(
        lambda: any("waiting for a free slot (2 of 2 running)" in j.reason for j in mine),
        "a queued job to say it waits for a slot",
    )
    out, _ = proc.communicate(timeout=240)
    intervals = [tuple(j.result(timeout=120)) for j in mine] + [tuple(x) for x in json.loads(out)]
    assert len(intervals) == 6
    assert max_overlap(intervals) == 2  # type: ignore[arg-type]


@pytest.mark.sandbox
def test_the_time_limit_is_enforced_on_the_host_without_a_client(over_ssh: cl.Profile) -> None:
    proc = _kernel(
        over_ssh,
        """
        job = cl.cluster(P, time="0:03")(time.sleep).submit(120)
        while any(j.state == cl.JobState.SUBMITTING for j in [job]): time.sleep(0.02)  # accepted
        print(json.dumps(job.id), flush=True)
        time.sleep(600)
        """,
    )
    assert proc.stdout is not None
    job_id = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    job = cl.job(job_id)
    with pytest.raises(cl.JobError, match="TIMEOUT: killed after reaching its time limit"):
        job.result(timeout=120)
    assert job.state == cl.JobState.TIMEOUT
    pid = _runner_status(over_ssh, job)["pid"]  # type: ignore[arg-type]
    assert isinstance(pid, int) and gone(pid)


@pytest.mark.sandbox
def test_cancel_ends_the_whole_session(over_ssh: cl.Profile) -> None:
    """The job starts a child in its own process group and one that ignores SIGTERM:
    cancel leaves no process of the job's session (SIGTERM, then SIGKILL)."""

    def spawn() -> None:
        import os
        import subprocess
        import time

        same = subprocess.Popen(["sleep", "300"])
        other = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300; :"], preexec_fn=os.setpgrp)
        print(same.pid, other.pid, flush=True)
        time.sleep(300)

    job = cl.cluster(over_ssh.name)(spawn).submit()
    until(lambda: len(job.stdout().split()) == 2, "the job to print its children's pids")
    same, other = map(int, job.stdout().split())
    runner = _runner_status(over_ssh, job)["pid"]
    assert isinstance(runner, int)
    session = os.getsid(runner)
    assert os.getpgid(other) != os.getpgid(runner)  # not reached by killing one group
    members = _session(session)
    assert {runner, same, other} <= set(members) and len(members) >= 5  # + job.sh, sleep
    assert job.cancel()
    assert job.state == cl.JobState.CANCELLED
    until(lambda: not _session(session), "every process of the job's session to end")


def test_a_killed_dispatcher_is_replaced_and_adopts_the_running_job(
    here: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On this machine: kill -9 the dispatcher while one job runs and one waits. The next
    poll sees the heartbeat stop and starts a new dispatcher, which adopts the running job
    (its end read from the job's status file) and starts the waiting one."""
    monkeypatch.setattr(direct, "STALE_SECONDS", 1.0)
    monkeypatch.setattr(direct, "KICK_EVERY", 0.0)
    f = cl.cluster(here.name)(lambda s: (time.sleep(s), s)[1])
    running, waiting = f.submit(3), f.submit(0)
    until(lambda: running.state == cl.JobState.RUNNING, "the first job to run")
    queue = Path(get_runtime(here).jobs_root()).parent / "queue" / os.uname().nodename
    first = int((queue / "pid").read_text())
    os.kill(first, signal.SIGKILL)
    assert running.result(timeout=120) == 3 and waiting.result(timeout=120) == 0
    assert int((queue / "pid").read_text()) != first
    qstate = (Path(running.job_dir) / "qstate").read_text().splitlines()
    assert [json.loads(ln)["event"] for ln in qstate] == ["running", "ended"]
    assert json.loads(qstate[-1])["ok"] is True  # adopted: settled by its exit line


def test_a_remote_dir_full_of_shell_characters_is_only_ever_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every value reaches the host queue's scripts as an argument, never as code: a
    remote_dir with quotes, $( ), backticks and ; runs, cancels and reads back normally."""
    monkeypatch.chdir(tmp_path)
    weird = tmp_path / "we ird'$(touch pwned1);`touch pwned2`\"x"
    profile = here_profile(tmp_path, name="weird", remote_dir=str(weird), max_concurrent=1)
    cl.profiles.save(profile)
    try:
        f = cl.cluster("weird")(lambda s: (time.sleep(s), s)[1])
        first, second, third = f.submit(1), f.submit(300), f.submit(0)
        until(lambda: second.state == cl.JobState.RUNNING, "the second job to run")
        assert second.cancel()
        assert first.result(timeout=60) == 1 and third.result(timeout=60) == 0
        assert Path(first.job_dir).parent == weird / "jobs"
        places = [tmp_path, Path("/"), Path.home(), weird / "queue"]  # cwd of each side
        assert not [p for place in places for p in place.glob("pwned*")]
        assert not list(tmp_path.rglob("pwned*"))
    finally:
        drain(profile)


@pytest.mark.parametrize("code", ['"x"', "null", "1e999"])
def test_a_malformed_exit_line_neither_kills_the_dispatcher_nor_blocks_the_queue(
    here: cl.Profile, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """A job's code can write its own status file. A malformed "exit" line there, read by a
    dispatcher that adopted the job, must not kill it (every revival would die again and
    no later job of this remote_dir would start). A dispatcher.log past 1 MiB is cut when
    a dispatcher starts (docs/direct.md)."""
    monkeypatch.setattr(direct, "STALE_SECONDS", 1.0)
    monkeypatch.setattr(direct, "KICK_EVERY", 0.0)
    line = '{"event": "exit", "code": ' + code + "}\n"

    def forge(text: str) -> int:
        with open(os.path.join(os.getcwd(), os.pardir, "status"), "a") as fh:
            fh.write(text)
        time.sleep(2)
        return 1

    f = cl.cluster(here.name)(forge)
    forged = f.submit(line)
    queue = Path(get_runtime(here).jobs_root()).parent / "queue" / os.uname().nodename
    status = Path(forged.job_dir) / "status"
    until(lambda: status.exists() and line in status.read_text(), "the forged line")
    os.kill(int((queue / "pid").read_text()), signal.SIGKILL)
    log = queue / "dispatcher.log"
    log.write_bytes(b"an old line\n" * 200_000)  # 2.4 MB
    later = cl.cluster(here.name)(abs).submit(-7)  # starts a dispatcher that adopts `forged`
    assert later.result(timeout=120) == 7
    forged.exception(timeout=120)  # its own garbage may fail it (jobdir.parse_status): its call
    assert forged.state.finished
    assert log.stat().st_size < 1024 * 1024
    assert "Traceback" not in log.read_text()


@pytest.mark.sandbox
def test_a_poll_of_thousands_of_job_dirs_fits_any_command_line(over_ssh: cl.Profile) -> None:
    """Over SSH the poll's command is one argument of the remote shell (at most 128 KiB):
    3,000 watched job dirs in it failed the whole poll. They travel on stdin now."""
    runtime = get_runtime(over_ssh)
    job = cl.cluster(over_ssh.name)(abs).submit(-3)
    assert job.result(timeout=120) == 3
    root = runtime.jobs_root()
    targets = [WatchTarget(job.native_id, job.job_dir)]
    targets += [
        WatchTarget(f"{i:06d}-gone", f"{root}/20261206-000000-{i:06d}-a-long-enough-name")
        for i in range(3000)
    ]
    seen = runtime.backend.poll(targets)
    assert len(seen) == 3001
    assert seen[job.native_id].status and b'"finished"' in seen[job.native_id].status
    assert all(seen[t.native_id].dir_missing for t in targets[1:])


class _OtherHost(LocalTransport):
    """This machine seen as another host sharing the remote_dir (an NFS home): every
    command, and the dispatcher it starts, runs in a UTS namespace named
    clusterlab-hostb."""

    label = "hostb"

    def _run(self, argv: Any, stdin: bytes | None, timeout: float | None) -> Any:
        host = 'hostname clusterlab-hostb && exec "$@"'
        return super()._run(["unshare", "-u", "sh", "-c", host, "sh", *argv], stdin, timeout)


def test_two_hosts_sharing_a_remote_dir_each_run_their_own_jobs(
    here: cl.Profile, tmp_path: Path
) -> None:
    """The queue is keyed by host: a job submitted through host B is run by B's
    dispatcher, not by A's (which had taken the shared queue's lock), and neither touches
    the other's jobs."""
    probe = subprocess.run(["unshare", "-u", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -u is not allowed here: {probe.stderr.decode().strip()}")
    other = here_profile(tmp_path, name="dhostb", max_concurrent=1)
    cl.profiles.save(other)
    runtime = get_runtime(other)
    transport = _OtherHost()
    runtime.transport = transport
    runtime.backend = direct.DirectBackend(other, transport)
    runtime.environment.transport = transport

    def where(pause: float) -> str:
        import socket
        import time

        time.sleep(pause)
        return socket.gethostname()

    on_a = cl.cluster(here.name)(where).submit(2)
    until(lambda: on_a.state == cl.JobState.RUNNING, "A's job to run")
    on_b = cl.cluster(other.name)(where).submit(0)
    assert on_b.result(timeout=120) == "clusterlab-hostb"
    assert on_a.result(timeout=120) == os.uname().nodename
    queues = sorted(p.name for p in (tmp_path / "direct" / "queue").iterdir() if p.is_dir())
    assert queues == sorted(["clusterlab-hostb", os.uname().nodename])


def test_a_job_that_left_the_queue_unrecorded_ends_instead_of_waiting_for_ever(
    here: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk filled up under a queued job (the chaos run): the dispatcher started it
    and saw it end but could write none of its qstate lines, and the runner no status
    line; the ended job left the spool. The client saw no line and said "queued on the
    host, about to start" for ever. Out of the spool with nothing written, it is missing
    from the queue: LOST after the grace, with a sentence. (Polled, with no status agent:
    as in that run, where it was killed; here qstate and status are directories, so every
    write fails as on a full disk.)"""
    monkeypatch.setenv("CLUSTERLAB_PUSH", "0")
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "1")
    f = cl.cluster(here.name)(lambda s: (time.sleep(s), s)[1])
    blocker = f.submit(2)  # one slot: the second waits for it
    unrecorded = f.submit(0)
    until(lambda: unrecorded.state == cl.JobState.PENDING, "the second job to be queued")
    for name in ("qstate", "status"):
        (Path(unrecorded.job_dir) / name).mkdir()
    assert blocker.result(timeout=60) == 2
    with pytest.raises(cl.JobError):
        unrecorded.result(timeout=60)
    assert unrecorded.state == cl.JobState.LOST
    assert "left the queue without reporting a result" in unrecorded.reason
