"""Jobs survive the services around them failing: sshd stopped for 20 s (the connection
cut too), slurmctld restarted, an SSH connection cut while a result is downloaded, a job
directory deleted. Every result arrives exactly once (side-effect files prove it) or the
job ends in the right state with a sentence; nothing stays "running" forever."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from tests.cluster import sandbox as sb
from tests.conftest import slurm_local_profile, ssh_profile
from tests.integration.test_conformance import until

pytestmark = pytest.mark.sandbox


def _marker(seconds: float) -> Callable[[int], int]:
    """Sleeps, then leaves one file per execution in its working dir (work/)."""

    def run_once(x: int) -> int:
        import os as o
        import time as t

        t.sleep(seconds)
        with open(f"ran.{x}.{o.getpid()}", "w"):
            pass
        return x * 10

    return run_once


def _ran(profile: cl.Profile, jobs: list[cl.Job]) -> list[int]:
    transport = get_runtime(profile).transport
    out = []
    for job in jobs:
        res = transport.run(["ls", "-1", f"{job.job_dir}/work"])
        out += [int(n.split(".")[1]) for n in res.out.split() if n.startswith("ran.")]
    return sorted(out)


def _cut_ssh_sessions(user: str) -> None:
    """Kill the per-connection sshd processes of ``user``: open connections drop."""
    subprocess.run(["pkill", "-KILL", "-f", f"sshd: {user}"], check=False)


def test_sshd_down_for_20_seconds(sandbox: object) -> None:
    profile = ssh_profile(sandbox, name="sshdown")
    cl.profiles.save(profile)
    jobs = [cl.cluster("sshdown")(_marker(8)).submit(i) for i in range(4)]
    deadline = time.time() + 60
    while not all(j.state == cl.JobState.RUNNING for j in jobs) and time.time() < deadline:
        time.sleep(0.2)
    port = sandbox.ssh_port  # type: ignore[attr-defined]
    sb._stop(sb._p("sshd_pid"), "sshd")
    _cut_ssh_sessions(sandbox.ssh_user)  # type: ignore[attr-defined]
    try:
        time.sleep(10)
        assert any("cannot reach" in j.reason for j in jobs), [j.reason for j in jobs]
        assert not any(j.done() for j in jobs)  # unreachable is not finished, nor LOST
        time.sleep(10)
    finally:  # the same daemon, config and port again (sshd reuses its address)
        sb.ensure_sshd(port)
    assert [j.result(timeout=180) for j in jobs] == [0, 10, 20, 30]
    assert _ran(profile, jobs) == [0, 1, 2, 3]  # each ran exactly once


def test_slurmctld_restarted_while_jobs_run(sandbox: object, tmp_path: Path) -> None:
    profile = slurm_local_profile(tmp_path, name="ctld")
    cl.profiles.save(profile)
    jobs = [cl.cluster("ctld")(_marker(6)).submit(i) for i in range(3)]
    arr = cl.cluster("ctld")(_marker(4)).map(range(6), chunksize=1)
    time.sleep(2)
    conf = sb._p("conf")
    sb._stop(sb._p("ctld_pid"), "slurmctld")
    time.sleep(3)
    # restarted without -c: slurmctld recovers its jobs from its state directory
    subprocess.run(["/usr/sbin/slurmctld", "-f", str(conf)], check=True, env=sb._slurm_env())
    assert [j.result(timeout=180) for j in jobs] == [0, 10, 20]
    assert arr.results(timeout=180) == [0, 10, 20, 30, 40, 50]
    assert _ran(profile, jobs) == [0, 1, 2]
    assert _ran(profile, [arr[0]]) == [0, 1, 2, 3, 4, 5]


def test_connection_cut_while_results_download(sandbox: object) -> None:
    """A cut mid-download is retried on the next poll; the checksum guarantees that what
    finally loads is the whole result."""
    profile = ssh_profile(sandbox, name="cutdl")
    cl.profiles.save(profile)

    def big(n: int) -> bytes:
        return bytes(range(256)) * (n // 256)

    job = cl.cluster("cutdl")(big).submit(40 * 2**20)
    stop = threading.Event()

    def cutter() -> None:  # cut every connection of the test user, again and again
        while not stop.is_set():
            _cut_ssh_sessions(sandbox.ssh_user)  # type: ignore[attr-defined]
            stop.wait(0.7)

    thread = threading.Thread(target=cutter, daemon=True)
    time.sleep(3)  # let it start; then downloads keep being cut for a while
    thread.start()
    time.sleep(4)
    stop.set()
    thread.join()
    data = job.result(timeout=180)
    assert data == bytes(range(256)) * (40 * 2**20 // 256)


def test_a_deleted_job_directory_ends_the_job_with_a_sentence(
    sandbox: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "3")
    profile = slurm_local_profile(tmp_path, name="deldir")
    cl.profiles.save(profile)
    job = cl.cluster("deldir")(_marker(3)).submit(1)
    deadline = time.time() + 60
    while job.state != cl.JobState.RUNNING and time.time() < deadline:
        time.sleep(0.1)
    subprocess.run(["rm", "-rf", "--", job.job_dir], check=True)
    with pytest.raises(cl.JobError) as info:
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED, job.state
    assert "its job directory is gone" in job.reason, job.reason
    assert os.fspath(job.id) in str(info.value)


def test_connection_cut_while_a_large_argument_uploads(sandbox: object) -> None:
    """A cut mid-upload fails that submission with a sentence (or it goes through); a
    partial upload is never used: every stored blob matches its content address."""
    profile = ssh_profile(sandbox, name="cutul")
    cl.profiles.save(profile)
    payload = os.urandom(30 * 2**20)
    stop = threading.Event()

    def cutter() -> None:
        while not stop.is_set():
            _cut_ssh_sessions(sandbox.ssh_user)  # type: ignore[attr-defined]
            stop.wait(0.2)

    f = cl.cluster("cutul")(len)
    assert f.submit(b"warm").result(timeout=120) == 4  # the session's one-off checks done
    thread = threading.Thread(target=cutter, daemon=True)
    thread.start()
    jobs = []
    try:
        for attempt in range(5):  # a new payload each time: each must be uploaded
            jobs.append(f.submit(payload + bytes([attempt])))  # returns at once (SUBMITTING)
        until(
            lambda: all(j.state != cl.JobState.SUBMITTING for j in jobs),
            "every submission to go through or fail",
            timeout=300,
        )
    finally:
        stop.set()
        thread.join()
    failed = [j for j in jobs if j.state == cl.JobState.FAILED]
    assert failed, jobs
    for job in failed:  # the cut reaches the job, with the sentence submit() raised before
        assert "connection" in job.reason or "reach" in job.reason, job.reason
        with pytest.raises(cl.ClusterlabError, match="connection|reach"):
            job.result(timeout=10)
    assert f.submit(payload).result(timeout=180) == len(payload)  # and now it goes through
    root = get_runtime(profile).jobs_root().rsplit("/", 1)[0] + "/blobs"
    check = get_runtime(profile).transport.run(
        ["sh", "-c", 'cd "$1" && for f in *.pkl; do sha256sum "$f"; done', "sh", root]
    )
    for line in check.out.splitlines():
        digest, name = line.split()
        assert name == f"{digest}.pkl", f"a blob does not match its address: {line}"
