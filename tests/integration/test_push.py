"""Push on the real sandbox: status lines reach the Job through the status agent, whatever
the poll interval; losing the agent falls back to polling; it dies with the connection.

Both SLURM transports: the agent is a subprocess (login node) or runs on an exec channel
of the real SSH connection as the sandbox's user.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import Runtime, get_runtime
from tests.conftest import round_trips_of, slurm_local_profile, ssh_profile

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_other_agents")]


@pytest.fixture(params=["slurm-local", "slurm-ssh"])
def slow_profile(request: pytest.FixtureRequest, tmp_path: Path, sandbox: object) -> cl.Profile:
    """A SLURM profile whose scheduler is asked only every 30 s at most."""
    if request.param == "slurm-local":
        profile = dataclasses.replace(slurm_local_profile(tmp_path), poll_interval=30.0)
    else:
        profile = ssh_profile(sandbox, name="pushssh", poll_interval=30.0)
    cl.profiles.save(profile)
    return profile


def _wait(predicate: object, what: str, patience: float = 30) -> None:
    deadline = time.monotonic() + patience
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _sleepy(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "woke"


def _alive(pid: int) -> bool:
    """The agent runs on this machine in both cases (sshd listens on 127.0.0.1)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def test_a_jobs_end_is_pushed_while_the_scheduler_is_asked_every_30_s(
    slow_profile: cl.Profile,
) -> None:
    """Polling alone (0.25 s backing off x1.5) needs ~8 polls to see a job that ends 4 s
    after it starts; pushed, the Job ends with one or two scheduler polls."""
    f = cl.cluster(slow_profile.name)(_sleepy)
    job = f.submit(4)
    runtime = get_runtime(slow_profile)
    assert job.result(timeout=60) == "woke"
    assert runtime.push.live
    assert runtime.push.lines >= 2  # started + finished, at least
    assert runtime.watcher.polls <= 2, f"{runtime.watcher.polls} scheduler polls"
    assert job.state == cl.JobState.COMPLETED
    assert job.started_at and job.ended_at and job.ended_at - job.started_at >= 4


def _kill_agent(runtime: Runtime) -> None:
    """Kill -9 the agent where it runs, as an administrator's kill or an OOM kill would."""
    pid = runtime.push.pid
    assert pid
    res = runtime.transport.run(["kill", "-9", str(pid)])
    assert res.returncode == 0, res.err


def test_killing_the_agent_falls_back_to_polling_and_says_so_once(
    sandbox: object, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    profile = ssh_profile(sandbox, name="pushkill", poll_interval=2.0)
    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(_sleepy)
    job = f.submit(3)
    runtime = get_runtime(profile)
    _wait(lambda: runtime.push.live and job.state == cl.JobState.RUNNING, "the job to run")
    pid = runtime.push.pid
    assert pid
    _kill_agent(runtime)
    assert job.result(timeout=60) == "woke"  # polling found it
    _wait(lambda: not runtime.push.live, "the agent to be seen gone")
    assert not _alive(pid)
    second = f.submit(0)  # still polled (no new agent within RETRY_AFTER): still works
    assert second.result(timeout=60) == "woke"
    err = capfd.readouterr().err
    assert err.count("falling back to polling") == 1, err
    assert "status agent" in err


def test_the_agent_ends_with_the_ssh_connection(sandbox: object) -> None:
    profile = ssh_profile(sandbox, name="pushclose", poll_interval=30.0)
    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(_sleepy)
    assert f.submit(0).result(timeout=60) == "woke"
    runtime = get_runtime(profile)
    pid = runtime.push.pid
    assert runtime.push.live and pid and _alive(pid)
    runtime.transport.close()  # the kernel exits, or the network drops
    _wait(lambda: not _alive(pid), "the agent to exit", patience=10)
    user = sandbox.ssh_user  # type: ignore[attr-defined]
    agents = subprocess.run(  # the agent's source is its command line
        ["pgrep", "-u", user, "-f", "inotify_add_watch"], capture_output=True, text=True
    ).stdout.split()
    assert str(pid) not in agents
    # and the runtime carries on: a new job reconnects, polls, and completes
    assert f.submit(0).result(timeout=60) == "woke"


def test_an_agent_that_cannot_start_leaves_jobs_to_polling(
    sandbox: object,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent's command is replaced by one that fails at once (as a login node that
    refuses another session, or a broken interpreter there, would): the job is polled.
    (A setup line of its own gives this profile an agent of its own to break.)"""
    profile = slurm_local_profile(tmp_path, name="pushnostart", setup=["# no agent here"])
    cl.profiles.save(profile)
    runtime = get_runtime(profile)
    failing = ["sh", "-c", "echo no python here >&2; exit 3"]
    monkeypatch.setattr(runtime.push.shared, "_argv", lambda roots: failing)
    f = cl.cluster(profile.name)(_sleepy)
    assert f.submit(0).result(timeout=60) == "woke"
    _wait(lambda: runtime.push.stopped_reason != "", "the agent's failure")
    err = capfd.readouterr().err
    assert err.count("falling back to polling") == 1, err
    assert "could not start (no python here)" in err


def _until_exists(path: str) -> str:
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return "released"


def test_jobs_that_end_together_are_collected_together(
    sandbox: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve jobs released at once by one file: over SSH the push thread downloads their
    results in a few round trips, not one per job (what a loop of submit() meets as it
    ends). On the login node a "round trip" is a local file read, settled as lines come."""
    slow_profile = ssh_profile(sandbox, name="pushssh", poll_interval=30.0)
    cl.profiles.save(slow_profile)
    shared = tempfile.mkdtemp(prefix="clusterlab-barrier-", dir="/tmp")
    os.chmod(shared, 0o755)  # noqa: S103 (the sandbox's SSH user must see the file)
    barrier = f"{shared}/go"
    runtime = get_runtime(slow_profile)
    trips = round_trips_of(runtime.transport, "clusterlab-push-settle-", monkeypatch)
    try:
        f = cl.cluster(slow_profile.name, memory="50MB")(_until_exists)
        jobs = [f.submit(barrier) for _ in range(12)]
        _wait(lambda: all(j.state == cl.JobState.RUNNING for j in jobs), "12 running jobs", 90)
        before = len(trips)
        Path(barrier).touch()
        assert [j.result(timeout=60) for j in jobs] == ["released"] * 12
        assert len(trips) - before <= 6, f"{len(trips) - before} result downloads for 12 jobs"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_profiles_on_one_connection_share_one_agent(sandbox: object) -> None:
    """Three profiles of one host (as a user with one profile per partition or account):
    one agent pushes for all three. Each runtime used to start its own, at most two per
    connection (sshd's MaxSessions), so the third profile's jobs were only polled."""
    from clusterlab.core.watching import agentslots as push

    names = ["pushcpu", "pushgpu", "pushbig"]
    for i, name in enumerate(names):
        cl.profiles.save(ssh_profile(sandbox, name=name, poll_interval=30.0 + i))
    runtimes = [get_runtime(cl.profiles.resolve(n)) for n in names]
    jobs = [cl.cluster(n)(_sleepy).submit(1) for n in names]
    assert [j.result(timeout=60) for j in jobs] == ["woke"] * 3
    assert all(r.push.live for r in runtimes)
    assert len({r.push.pid for r in runtimes}) == 1  # the same agent process
    assert push._agents[id(runtimes[0].transport)] == 1
    assert all(r.watcher.polls <= 2 for r in runtimes), [r.watcher.polls for r in runtimes]


def test_a_jobs_root_that_arrives_while_the_agent_starts_is_followed_too(
    sandbox: object, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two profiles of one host, each with its own remote_dir (SLURM and direct, say):
    the second's jobs root arrived while the agent started for the first was still
    starting, so that agent knew only the first root and refused the second's dirs ("not
    a job directory directly under ..."): their lines were never pushed (the chaos run)."""
    token = os.urandom(4).hex()
    names = [f"roots{token}a", f"roots{token}b"]
    for name in names:
        cl.profiles.save(
            ssh_profile(
                sandbox,
                name=name,
                remote_dir=f"~/cl-roots/{name}",
                poll_interval=30.0,
                setup=["sleep 2"],  # the agent takes 2 s to say hello
            )
        )
    runtimes = [get_runtime(cl.profiles.resolve(n)) for n in names]
    dirs = [f"{r.jobs_root()}/job1" for r in runtimes]
    for d in dirs:  # a status line in each
        res = runtimes[0].transport.script(
            'mkdir -p "$1" && printf \'{"event": "started"}\\n\' > "$1/status"', d
        )
        assert res.returncode == 0, res.err
    try:
        link = runtimes[0].push.shared
        assert link is runtimes[1].push.shared  # one connection, one agent
        link.watch_many(dirs[:1], runtimes[0])  # starts the agent with the first root
        time.sleep(0.5)  # (it is in its setup lines now)
        assert link.pushing and not link.live
        link.watch_many(dirs[1:], runtimes[1])  # a second root while it starts
        _wait(lambda: link.lines >= 2, "both dirs' lines to be pushed")
        assert "refused" not in capfd.readouterr().err
    finally:
        link.close()
        home = sandbox.user_home  # type: ignore[attr-defined]
        runtimes[0].transport.run(["rm", "-rf", "--", f"{home}/cl-roots/{names[0]}",
                                   f"{home}/cl-roots/{names[1]}"])  # fmt: skip


def _prints_then_returns(x: int) -> int:
    import sys
    import time

    time.sleep(1.5)  # (the end comes pushed, long after the poll that follows submission)
    print(f"out {x}")
    print(f"err {x}", file=sys.stderr)
    return x * 2


def _reads_of(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every result and log read of ``runtime``'s transport: (what, thread, paths)."""
    import threading

    calls: list[tuple[str, str, str]] = []
    for name in ("read_files", "read_ranges"):
        original = getattr(runtime.transport, name)

        def record(*args: object, _name: str = name, _orig: object = original) -> object:
            calls.append((_name, threading.current_thread().name, repr(args[0])))
            return _orig(*args)  # type: ignore[operator]

        monkeypatch.setattr(runtime.transport, name, record)
    return calls


def test_a_pushed_end_brings_the_value_and_the_last_output_without_a_read(
    slow_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A call's value and its last printed lines come with the job's pushed end: the kernel
    reads neither again (each read was a round trip: 5 per job 50 ms away, now 3)."""
    f = cl.cluster(slow_profile.name)(_prints_then_returns)
    runtime = get_runtime(slow_profile)
    assert f.submit(0).result(timeout=60) == 0  # the agent runs from here on
    _wait(lambda: runtime.push.live, "the status agent")
    reads = _reads_of(runtime, monkeypatch)
    capfd.readouterr()
    assert f(21) == 42  # shows the output as a local call would
    shown = capfd.readouterr()
    assert "out 21" in shown.out and "err 21" in shown.err
    assert not [r for r in reads if r[0] == "read_files"], reads  # the value came pushed
    assert not [r for r in reads if r[1] == "MainThread"], reads  # so did the last output


def test_a_maps_small_results_come_pushed_with_their_items(
    slow_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items' results come with their item-finished lines: no result file is read."""
    f = cl.cluster(slow_profile.name)(_sleepy)
    runtime = get_runtime(slow_profile)
    assert f.submit(0).result(timeout=60) == "woke"
    _wait(lambda: runtime.push.live, "the status agent")
    reads = _reads_of(runtime, monkeypatch)
    arr = f.map([1.0] * 6, chunksize=2)
    assert arr.results(timeout=90) == ["woke"] * 6
    assert not [r for r in reads if r[0] == "read_files"], reads
