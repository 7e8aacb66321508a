"""The backend conformance suite: what a user sees, the same on every scheduler dialect.

Every test runs once per dialect:

- ``slurm``: the real SLURM of the sandbox (tests/cluster/sandbox.py), local transport;
- ``fakepbs``: tests/fakepbs, a FAKE PBS Professional (no PBS server installs on Debian)
  that really runs the jobs as local processes, with its ``bin`` first on PATH and its
  state in a per-test ``FAKEPBS_HOME``;
- ``faketorque``: the same fake speaking TORQUE 6 (``FAKEPBS_FLAVOR=torque``), found by the
  backend's ``pbs_flavor = "auto"`` from ``qstat --version``;
- ``sge``: the real Grid Engine cell of tests/cluster/sge.py, over SSH as the sandbox's
  user (Grid Engine refuses jobs from root), its commands set up by the profile's
  ``sge_settings``;
- ``fakek8s``: tests/fakek8s, a FAKE Kubernetes API server (no API server runs here) on
  127.0.0.1 whose pods are local processes in private mount namespaces; the profile
  reaches it through a kubeconfig, like a real cluster;
- ``direct``: no scheduler, over the sandbox's real sshd as its throwaway user: the host
  queue of clusterlab/remote/hostqueue.py, in a per-test remote_dir (tests/integration/
  direct_support.py; what only ``direct`` does is tested in test_direct.py).

``pytest -k fakepbs`` (or ``-m fakepbs``) runs the fake dialect alone, ``-k slurm`` the real
one. Adding a scheduler = adding its dialect to :func:`dialect`. The tests assert outcomes
(values, states, the sentences in ``job.reason``), never how long something took.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.common.jobdir import status_file
from clusterlab.core.ledger import store as ledger
from clusterlab.core.runtime import get_runtime

from ..conftest import slurm_local_profile, ssh_profile
from ..fakek8s import FakeKube, unshare_works
from .direct_support import direct_profile, drain, shared_dir

pytestmark = pytest.mark.timeout(300)

FAKEPBS_BIN = Path(__file__).resolve().parents[1] / "fakepbs" / "bin"


@dataclass
class Dialect:
    name: str
    profile: cl.Profile
    unknown_id: str  # a native id this scheduler never gave out
    shared: Path  # a directory both this test and the dialect's jobs see


@pytest.fixture(
    params=[
        pytest.param("slurm", marks=pytest.mark.sandbox),
        pytest.param("fakepbs", marks=pytest.mark.fakepbs),
        pytest.param("faketorque", marks=pytest.mark.fakepbs),
        pytest.param("sge", marks=[pytest.mark.sandbox, pytest.mark.sge]),
        pytest.param("fakek8s", marks=pytest.mark.fakek8s),
        pytest.param("direct", marks=[pytest.mark.sandbox, pytest.mark.direct]),
    ]
)
def dialect(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Dialect]:
    if request.param == "slurm":
        request.getfixturevalue("sandbox")
        d = Dialect("slurm", slurm_local_profile(tmp_path), "99999999", tmp_path)
    elif request.param == "sge":  # over SSH: root cannot submit to Grid Engine
        cell = request.getfixturevalue("sge_cell")
        info = request.getfixturevalue("sandbox")
        remote_dir = f"~/.clusterlab-sge/{tmp_path.name}"
        profile = ssh_profile(
            info, "sge", scheduler="sge", sge_settings=cell.settings, remote_dir=remote_dir
        )
        shared = Path(remote_dir.replace("~", info.user_home, 1))  # type: ignore[attr-defined]
        d = Dialect("sge", profile, "9999999", shared)
    elif request.param == "direct":
        profile = direct_profile(request.getfixturevalue("sandbox"))
        d = Dialect("direct", profile, "20000101-000000-000000", shared_dir())
    elif request.param == "fakek8s":
        problem = unshare_works()
        if problem:
            pytest.skip(f"fakek8s gives each pod private mounts and cannot here: {problem}")
        fake = FakeKube(tmp_path / "fakek8s")
        request.addfinalizer(fake.stop)
        profile = cl.Profile(
            name="fakek8s",
            scheduler="kubernetes",
            image="python:3.11-slim",  # not pulled: the fake runs python= on this machine
            python=sys.executable,
            kubeconfig=fake.kubeconfig,
            remote_dir=str(tmp_path / "k8sjobs"),
            poll_interval=1,
        )
        d = Dialect("fakek8s", profile, "cl-19990101-000000-000000", tmp_path)
    else:
        home = tmp_path / "fakepbs"
        home.mkdir()
        monkeypatch.setenv("FAKEPBS_HOME", str(home))
        monkeypatch.setenv("FAKEPBS_KILL_DELAY", "1")
        monkeypatch.setenv("FAKEPBS_FLAVOR", "torque" if request.param == "faketorque" else "pro")
        monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
        # pbs_flavor "auto": the backend tells the two apart by `qstat --version`
        profile = cl.Profile(
            name="fakepbs", scheduler="pbs", remote_dir=str(tmp_path / "pbsjobs"), poll_interval=1
        )
        d = Dialect(request.param, profile, "99999.fakepbs", tmp_path)
    cl.profiles.save(d.profile)
    yield d
    if d.name in ("fakepbs", "faketorque"):  # whatever a test left running ends with it
        fake = [sys.executable, str(FAKEPBS_BIN / "fakepbs.py"), "_shutdown"]
        subprocess.run(fake, check=True, timeout=60)
    if d.name == "sge":  # ...and its job directories
        run = get_runtime(d.profile).transport.run
        # only this test's jobs: the cell and its user are shared (another session's
        # tests, the chaos run), so `qdel -u` would end their jobs too
        ids = sorted(
            {
                part.split(".")[0]
                for row in cl.jobs(profile=d.profile.name)
                for part in (row.native_id or "").split(",")
                if part.split(".")[0].isdigit()
            }
        )
        if ids:
            qdel = '. "$1"; shift; qdel "$@" >/dev/null 2>&1; exit 0'
            run(["sh", "-c", qdel, "sh", d.profile.sge_settings, *ids])
        run(["rm", "-rf", "--", str(d.shared)])
    if d.name == "direct":
        drain(d.profile, d.shared)


def until(predicate: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Wait for something a user would wait for; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def runner_pid(profile: cl.Profile, job: cl.Job) -> int:
    """The pid of the runner of ``job`` (of its task, for an array item)."""
    status = get_runtime(profile).read_log(job, status_file(job.task if job.array_id else None))
    return int(next(json.loads(ln)["pid"] for ln in status.splitlines() if '"started"' in ln))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


# -- submit, result, output -------------------------------------------------------------------
def test_submit_and_result_with_output(dialect: Dialect) -> None:
    def shout(x: int) -> int:
        print(f"hello from item {x}")
        print("to stderr", file=sys.stderr)
        return x * 2

    job = cl.cluster(dialect.profile.name, cores=1, memory="200MB", time="0:05:00")(shout).submit(
        21
    )
    assert job.result(timeout=120) == 42
    assert job.state == cl.JobState.COMPLETED and job.reason == ""
    assert "hello from item 21" in job.stdout()
    assert "to stderr" in job.stderr()


def test_remote_exception_keeps_its_type(dialect: Dialect) -> None:
    def boom() -> None:
        raise KeyError("no such thing")

    job = cl.cluster(dialect.profile.name)(boom).submit()
    with pytest.raises(KeyError, match="no such thing"):
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED


# -- arrays -----------------------------------------------------------------------------------
def test_map_is_one_array_and_respects_its_throttle(dialect: Dialect) -> None:
    nap = cl.cluster(dialect.profile.name)(lambda x: (time.sleep(0.3), x * x)[1])
    arr = nap.map(range(12), max_concurrent=3, chunksize=1)
    assert len(arr.parts) == 1  # one native array job
    assert arr.results(timeout=240) == [x * x for x in range(12)]
    intervals = [(j.started_at, j.ended_at) for j in arr]
    assert all(s is not None and e is not None for s, e in intervals)
    assert max_overlap(intervals) <= 3  # type: ignore[arg-type]
    assert arr.counts() == {"COMPLETED": 12}


def test_a_map_of_one_item(dialect: Dialect) -> None:
    arr = cl.cluster(dialect.profile.name)(lambda x: x + 1).map([41])
    assert arr.results(timeout=120) == [42]


def test_throttled_items_wait_with_a_reason_and_the_array_cancels(dialect: Dialect) -> None:
    arr = cl.cluster(dialect.profile.name)(time.sleep).map([300] * 3, max_concurrent=1, chunksize=1)
    until(lambda: arr.counts().get("RUNNING") == 1, "one item running")
    until(
        lambda: any("concurrency limit" in j.reason for j in arr),
        "a waiting item to say why",
    )
    waiting = next(j for j in arr if j.state == cl.JobState.PENDING)
    assert waiting.reason.startswith("waiting under the array's concurrency limit (%N)")
    assert arr.cancel()
    assert arr.counts() == {"CANCELLED": 3}


# -- dependencies -----------------------------------------------------------------------------
def test_dependencies_on_a_job_and_an_array_pass_results(dialect: Dialect) -> None:
    name = dialect.profile.name
    base = cl.cluster(name)(lambda: 1000).submit()
    squares = cl.cluster(name)(lambda x: x * x).after(base).map(range(5))
    total = cl.cluster(name)(lambda values, offset: sum(values) + offset).submit(squares, base)
    assert total.result(timeout=180) == 30 + 1000
    assert set(total.after_ids) == {squares.id, base.id}
    single = cl.cluster(name)(lambda v: v[0] + 1).submit(cl.cluster(name)(abs).map([-6]))
    assert single.result(timeout=180) == 7


def test_a_failed_dependency_ends_dependents_with_a_sentence(dialect: Dialect) -> None:
    name = dialect.profile.name
    go = dialect.shared / "go"

    def boom() -> None:  # fails only once its dependents are submitted (no race)
        for _ in range(600):
            if os.path.exists(go):
                break
            time.sleep(0.1)
        raise RuntimeError("prep failed")

    prep = cl.cluster(name)(boom).submit()
    single = cl.cluster(name)(abs).submit(-1, after=[prep])
    arr = cl.cluster(name)(abs).after(prep).map([-1, -2])
    go.touch()
    for job in [single, *arr]:
        with pytest.raises(concurrent.futures.CancelledError):
            job.result(timeout=180)
        assert job.state == cl.JobState.CANCELLED  # not pending forever
        assert job.reason.startswith("dependency failed: job ")
        assert f"{prep.id} (boom) ended FAILED" in job.reason


# -- cancel, pending reasons --------------------------------------------------------------------
def test_cancel_pending_and_running_with_reasons(dialect: Dialect) -> None:
    name = dialect.profile.name
    running = cl.cluster(name)(time.sleep).submit(300)
    until(lambda: running.state == cl.JobState.RUNNING, "the first job to run")
    pending = cl.cluster(name)(abs).submit(-1, after=[running])
    until(lambda: "depends" in pending.reason, "the dependent to say why it waits")
    assert pending.state == cl.JobState.PENDING
    assert pending.reason == "waiting for the jobs it depends on"
    assert pending.cancel()
    assert pending.state == cl.JobState.CANCELLED
    with pytest.raises(concurrent.futures.CancelledError):
        pending.result(timeout=5)
    pid = runner_pid(dialect.profile, running)
    assert running.cancel()
    assert running.state == cl.JobState.CANCELLED
    until(lambda: gone(pid), "the cancelled job's process to end")
    assert ledger.get(running.id).state == "CANCELLED"  # type: ignore[union-attr]


def test_cancel_one_item_of_a_map(dialect: Dialect) -> None:
    arr = cl.cluster(dialect.profile.name)(lambda s: (time.sleep(s), s)[1]).map(
        [0, 300, 0], chunksize=1
    )
    until(lambda: arr[1].state == cl.JobState.RUNNING, "the long item to run")
    until(lambda: arr[1].host, "the long item's task to report where it runs")
    pid = runner_pid(dialect.profile, arr[1])
    assert arr[1].cancel()
    assert arr[1].state == cl.JobState.CANCELLED
    until(lambda: gone(pid), "the cancelled item's process to end")
    assert arr.results(timeout=120, return_exceptions=True)[::2] == [0, 0]
    assert arr.counts() == {"COMPLETED": 2, "CANCELLED": 1}


# -- another process, vanished jobs -------------------------------------------------------------
def _in_a_kernel(dialect: Dialect, body: str) -> subprocess.Popen[str]:
    script = f"import json, sys, time\nimport clusterlab as cl\nP = {dialect.profile.name!r}\n"
    return subprocess.Popen(
        [sys.executable, "-c", script + textwrap.dedent(body)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_reattach_in_a_fresh_process(dialect: Dialect) -> None:
    """A kernel submits and is killed mid-run; this process gets every result."""
    proc = _in_a_kernel(
        dialect,
        """
        slow = cl.cluster(P)(lambda x: (time.sleep(3), x * 2)[1])
        job, arr = slow.submit(21), slow.map(range(3), max_concurrent=2)
        print(json.dumps([job.id, arr.id]), flush=True)
        time.sleep(600)
        """,
    )
    assert proc.stdout is not None
    job_id, array_id = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    job, arr = cl.job(job_id), cl.job(array_id)
    assert isinstance(job, cl.Job) and isinstance(arr, cl.ArrayJob)
    assert job.result(timeout=180) == 42
    assert arr.results(timeout=180) == [0, 2, 4]
    assert cl.job(f"{array_id}:1").result() == 2


def _forget(job_id: str, native_id: str) -> None:
    """Make the ledger point at a job the scheduler no longer lists (purged from its
    history, or MinJobAge passed) and that was last seen running."""
    with sqlite3.connect(ledger.path()) as db:
        db.execute(
            "UPDATE jobs SET native_id=?, state='RUNNING', reason='', ended=NULL WHERE id=?",
            (native_id, job_id),
        )


def test_a_job_gone_from_the_queue_is_settled_by_its_files(
    dialect: Dialect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "2")  # the grace itself: tests/unit/test_settle
    proc = _in_a_kernel(
        dialect,
        """
        f = cl.cluster(P)(lambda x: x * 2)
        kept, lost = f.submit(21), f.submit(1)
        kept.result(timeout=120), lost.result(timeout=120)
        print(json.dumps([kept.id, lost.id]), flush=True)
        """,
    )
    out, _ = proc.communicate(timeout=240)
    kept_id, lost_id = json.loads(out)
    for job_id in (kept_id, lost_id):
        _forget(job_id, dialect.unknown_id)
    lost_dir = ledger.get(lost_id).job_dir  # type: ignore[union-attr]
    res = get_runtime(dialect.profile).transport.run(
        ["rm", "-f", f"{lost_dir}/status", f"{lost_dir}/result.pkl"]
    )
    assert res.returncode == 0, res.err
    kept = cl.job(kept_id)
    assert kept.result(timeout=120) == 42  # its status file says it finished
    assert kept.state == cl.JobState.COMPLETED
    lost = cl.job(lost_id)
    with pytest.raises(cl.JobError, match="LOST: the job left the queue without reporting"):
        lost.result(timeout=120)
    assert lost.state == cl.JobState.LOST


# -- limits -----------------------------------------------------------------------------------
def test_time_limit_ends_as_timeout(dialect: Dialect) -> None:
    if dialect.name == "slurm":
        pytest.skip("SLURM's limit has minute granularity: tests/integration/test_slurm.py")
    job = cl.cluster(dialect.profile.name, time="0:02")(time.sleep).submit(120)
    with pytest.raises(cl.JobError, match="TIMEOUT: killed after reaching its time limit"):
        job.result(timeout=120)
    assert job.state == cl.JobState.TIMEOUT
