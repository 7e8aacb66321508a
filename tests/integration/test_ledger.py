"""The ledger: every job recorded, reattached from another process, cleaned explicitly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.ledger import store as ledger
from tests.conftest import slurm_state

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]


def test_jobs_are_recorded_and_filtered(any_profile: cl.Profile) -> None:
    job = cl.cluster(any_profile.name, cores=1)(abs).submit(-5)
    rec = ledger.get(job.id)
    assert rec is not None and rec.profile == any_profile.name and rec.native_id == job.native_id
    assert job.result(timeout=60) == 5
    arr = cl.cluster(any_profile.name)(abs).map([-1, -2])
    arr.results(timeout=60)
    time.sleep(0.2)
    rows = cl.jobs(profile=any_profile.name)
    assert [r.id for r in rows][:2] == [arr.id, job.id]
    assert rows[0].kind == "array" and rows[0].size == 2 and rows[0].counts == {"COMPLETED": 2}
    assert rows[1].state == "COMPLETED" and rows[1].resources == {"cores": 1}
    assert cl.jobs(state="FAILED") == []
    assert {r.id for r in cl.jobs(state=["COMPLETED"])} >= {job.id, arr.id}


def test_reattach_after_the_submitting_process_was_killed(any_profile: cl.Profile) -> None:
    """A kernel submits, dies with SIGKILL mid-run; a new process gets every result."""
    script = textwrap.dedent(
        f"""
        import json, sys, time
        import clusterlab as cl
        slow = cl.cluster({any_profile.name!r})(lambda x: (time.sleep(4), x * 2)[1])
        job = slow.submit(21)
        arr = slow.map(range(3))
        pool = slow.map(range(4), workers=2)
        print(json.dumps([job.id, arr.id, pool.id]), flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    job_id, array_id, pool_id = json.loads(proc.stdout.readline())
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ledger.get(job_id) is not None
    job = cl.job(job_id)
    arr = cl.job(array_id)
    assert isinstance(job, cl.Job) and isinstance(arr, cl.ArrayJob)
    assert job.result(timeout=120) == 42
    assert arr.results(timeout=120) == [0, 2, 4]
    assert cl.job(f"{array_id}:2").result() == 4
    pool = cl.job(pool_id)
    assert isinstance(pool, cl.ArrayJob) and pool.plan == "4 items pulled by 2 workers"
    assert pool.results(timeout=120) == [0, 2, 4, 6]
    time.sleep(0.3)
    assert ledger.get(job_id).state == "COMPLETED"  # type: ignore[union-attr]


def test_local_jobs_still_queued_in_a_killed_kernel_start_and_finish() -> None:
    """Issue 29, finding 14: a local job still waiting for its slot, an array and a
    dependent job whose kernel is SIGKILLed start after it died (the host queue takes them
    over), each once, and a new process gets every result."""
    cl.profiles.save(cl.Profile(name="one", scheduler="local", max_concurrent=1))
    script = textwrap.dedent(
        """
        import json, os, time, clusterlab as cl
        f = cl.cluster("one")(lambda x: (time.sleep(2), (x, os.getpid()))[1])
        jobs = [f.submit(1), f.submit(2), f.map([3, 4])]
        jobs.append(f.submit(jobs[1]))  # waits for job 2 and is passed its result
        while jobs[0].state != cl.JobState.RUNNING: time.sleep(0.02)  # accepted and started
        while any(j.state == cl.JobState.SUBMITTING for j in jobs): time.sleep(0.02)
        print(json.dumps([j.id for j in jobs]), flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    running_id, queued_id, array_id, after_id = json.loads(proc.stdout.readline())
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert cl.job(running_id).result(timeout=60)[0] == 1  # its process outlived the kernel
    queued = cl.job(queued_id)
    assert queued.result(timeout=60)[0] == 2
    items = cl.job(array_id)
    assert isinstance(items, cl.ArrayJob)
    assert [r[0] for r in items.results(timeout=60)] == [3, 4]
    assert cl.job(after_id).result(timeout=60)[0] == (2, queued.result()[1])
    # one slot, held by the first job when the kernel died: the others started after it,
    # each exactly once
    for job in (queued, items[0], cl.job(after_id)):
        statuses = sorted(Path(job.job_dir).glob("status*"))
        assert statuses
        for path in statuses:
            events = [json.loads(line) for line in path.read_text().splitlines()]
            assert [e["event"] for e in events].count("started") == 1, (path, events)


def test_cancel_from_another_process_stops_a_job_queued_in_a_live_kernel(tmp_path: Path) -> None:
    cl.profiles.save(cl.Profile(name="one", scheduler="local", max_concurrent=1))
    script = textwrap.dedent(
        """
        import json, time, clusterlab as cl
        f = cl.cluster("one")(lambda x: (time.sleep(3), x)[1])
        first, queued = f.submit(1), f.submit(2)
        while any(j.state == cl.JobState.SUBMITTING for j in (first, queued)): time.sleep(0.02)
        print(json.dumps([first.id, queued.id]), flush=True)
        first.result(timeout=60)
        try:
            queued.result(timeout=60)
            print("ran", flush=True)
        except BaseException as exc:
            print(type(exc).__name__, queued.state, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    _, queued_id = json.loads(proc.stdout.readline())
    queued = cl.job(queued_id)
    assert queued.cancel()
    out, _ = proc.communicate(timeout=120)
    assert out.strip() == "CancelledError CANCELLED"  # the owning kernel never started it
    assert not (Path(queued.job_dir) / "status").exists()  # no runner ever wrote there


def test_reattached_job_can_be_cancelled(any_profile: cl.Profile) -> None:
    script = textwrap.dedent(
        f"""
        import time, clusterlab as cl
        job = cl.cluster({any_profile.name!r})(time.sleep).submit(300)
        # Exit once it runs: a local job still queued dies with the kernel that queued
        # it (test_local_job_still_queued_in_a_dead_kernel_is_lost_with_a_reason).
        deadline = time.time() + 60
        while job.state != cl.JobState.RUNNING and time.time() < deadline:
            time.sleep(0.1)
        print(job.id, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    job = cl.job(out.stdout.strip())
    assert isinstance(job, cl.Job)
    deadline = time.time() + 60
    while job.state == cl.JobState.PENDING and time.time() < deadline:
        time.sleep(0.2)
    assert job.cancel()
    assert job.state == cl.JobState.CANCELLED
    assert ledger.get(job.id).state == "CANCELLED"  # type: ignore[union-attr]
    # ... and the job really stopped, although another process started it
    from clusterlab.core.runtime import get_runtime

    status = get_runtime(any_profile).read_log(job, "status")
    pid = next(json.loads(ln)["pid"] for ln in status.splitlines() if '"started"' in ln)
    deadline = time.time() + 30
    while time.time() < deadline:
        if any_profile.scheduler == "local":
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
        else:
            if slurm_state(job.native_id) == "CANCELLED":
                break
        time.sleep(0.2)
    else:
        raise AssertionError(f"job {job.id} kept running after cancel")


def test_unknown_job_id_is_a_clear_error() -> None:
    with pytest.raises(cl.ClusterlabError, match="no job 'nope' in the ledger.*cl.jobs"):
        cl.job("nope")


def test_two_processes_write_the_ledger_at_once() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from clusterlab.core.ledger import store as ledger
        tag = sys.argv[1]
        for i in range(150):
            ledger.record({"id": f"{tag}-{i}", "kind": "job", "profile": "p",
                           "profile_json": "{}", "name": "n", "native_id": str(i),
                           "job_dir": "/x", "resources": {}, "after": [],
                           "submitted": time.time(), "state": "PENDING"})
            ledger.update_jobs([("RUNNING", "", time.time(), None, "{}", f"{tag}-{i}")])
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, tag], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    rows = ledger.query()
    assert len(rows) == 300
    assert {r.state for r in rows} == {"RUNNING"}


def test_cleanup_and_gc_delete_only_finished_job_dirs(any_profile: cl.Profile) -> None:
    from clusterlab.backends.base import JobSpec
    from clusterlab.config.attempts import AttemptPolicy
    from clusterlab.core.runtime import get_runtime
    from clusterlab.core.submission import plans

    runtime = get_runtime(any_profile)
    f = cl.cluster(any_profile.name)(abs)
    done, old = f.submit(-1), f.submit(-2)
    running = cl.cluster(any_profile.name)(time.sleep).submit(120)
    assert done.result(timeout=60) == 1 and old.result(timeout=60) == 2

    def exists(path: str) -> bool:
        return runtime.transport.run(["test", "-d", path]).returncode == 0

    with pytest.raises(cl.ClusterlabError, match="cancel it first"):
        running.cleanup()
    done.cleanup()
    assert not exists(done.job_dir) and exists(old.job_dir)
    assert ledger.get(done.id).cleaned  # type: ignore[union-attr]
    time.sleep(0.2)
    # what a rerun of old would need, had its end gone unwatched (retries=, a kernel gone)
    policy = AttemptPolicy(retries=1)
    spec = JobSpec(old.id, old.name, old.job_dir, old.resources, ["python3"])
    plans.save(old.id, plans.Plan(spec, policy))
    cleaned = cl.jobs.gc(older_than=0)
    assert old.id in cleaned and running.id not in cleaned
    assert plans.load(old.id) is None  # forgotten with the job's files
    assert not exists(old.job_dir) and exists(running.job_dir)
    running.cancel()
    # a new process reattaching to a cleaned job is told where its result went
    out = subprocess.run(
        [sys.executable, "-c", f"import clusterlab as cl; cl.job({old.id!r}).result()"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 1 and "files were deleted by cleanup" in out.stderr


def test_cleanup_right_after_the_result_outlasts_the_jobs_last_writes() -> None:
    """A job's result can arrive before its script has ended (pushed, or read as soon as
    the runner wrote it), and the script's last writes (Grid Engine's success mark, the
    scheduler's output) then land while ``rm -rf`` runs: rm said "Directory not empty" and
    cleanup() raised (seen on Grid Engine in CI)."""
    import threading

    job = cl.cluster("local")(abs).submit(-3)
    assert job.result(timeout=60) == 3
    stop = time.monotonic() + 0.6

    def late_writes() -> None:  # the script's EXIT trap and the scheduler, many times over
        n = 0
        while time.monotonic() < stop:
            try:  # into the job dir while it exists, never creating it again
                if not os.path.isdir(job.job_dir + "/late"):
                    os.mkdir(job.job_dir + "/late")
                Path(f"{job.job_dir}/late/mark.{n}").touch()
            except OSError:
                pass
            n += 1

    writer = threading.Thread(target=late_writes)
    writer.start()
    time.sleep(0.05)
    try:
        job.cleanup()
    finally:
        writer.join()
    assert not Path(job.job_dir).exists()
    rec = ledger.get(job.id)
    assert rec is not None and rec.cleaned
