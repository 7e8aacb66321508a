"""Many small items: the automatic plan and the worker pool, on real schedulers.

The pool tests count side effects in the job dir (each item leaves a file named after
its index and the worker's pid), so "no item runs twice" is checked on the cluster's own
file system, not inferred from our bookkeeping.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

from ..conftest import slurm_state, ssh_profile

pytestmark = pytest.mark.timeout(300)


def _ran(profile: cl.Profile, job_dir: str) -> list[int]:
    """Item indices whose side-effect files exist in the job's working dir (one per
    execution)."""
    res = get_runtime(profile).transport.run(["ls", "-1", f"{job_dir}/work"])
    assert res.returncode == 0, res.err
    return sorted(int(n.split(".")[1]) for n in res.out.split() if n.startswith("ran."))


def _marker(bad: int = 500) -> Callable[[int], int]:
    """A function (nested, so it is pickled by value) that runs in the job's working dir
    (``work/`` of the job dir), leaves one file per execution of item x and fails on item
    ``bad``."""

    def leave_mark(x: int) -> int:
        with open(f"ran.{x}.{os.getpid()}", "w"):
            pass
        if x == bad:
            raise ValueError(f"item {bad} is bad")
        return x * 2

    return leave_mark


@pytest.fixture
def ssh(sandbox: object) -> cl.Profile:
    profile = ssh_profile(sandbox, name="pool-ssh", poll_interval=1.0)
    cl.profiles.save(profile)
    return profile


def test_1000_items_are_auto_chunked_and_stay_per_item(ssh: cl.Profile) -> None:
    arr = cl.cluster(ssh.name)(_marker()).map(range(1000))
    # One wave on the sandbox's 16 CPU slots, in ONE native array.
    assert arr.plan == "1,000 items in 16 tasks of ~63", arr.plan
    assert len(arr.parts) == 1 and len(arr.parts[0].task_items) == 16
    results = arr.results(timeout=240, return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 500] == [
        x * 2 for x in range(1000) if x != 500
    ]
    failed = arr.failed()
    assert list(failed) == [500] and isinstance(failed[500], ValueError)
    assert "item 500 is bad" in str(failed[500])
    assert arr.counts() == {"COMPLETED": 999, "FAILED": 1}
    assert _ran(ssh, arr.parts[0].job_dir) == list(range(1000))  # each item exactly once


def test_pool_balances_uneven_items(ssh: cl.Profile) -> None:
    # Four 3-second items first: a static split would put them all in task 0 (12 s);
    # pulled from a queue, each runs on its own worker while the others share the rest.
    durations = [3.0] * 4 + [0.25] * 24

    def work(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    arr = cl.cluster(ssh.name)(work).map(durations, workers=4)
    assert arr.plan == "28 items pulled by 4 workers"
    assert arr.results(timeout=240) == durations
    long_workers = {arr[i].task for i in range(4)}
    assert len(long_workers) == 4, [arr[i].task for i in range(4)]
    starts = [j.started_at for j in arr]
    ends = [j.ended_at for j in arr]
    assert all(starts) and all(ends)
    span = max(ends) - min(starts)  # type: ignore[type-var,operator]
    assert span < sum(durations[:4]), f"the pool ran for {span:.1f} s: long items were serial"


def test_a_killed_worker_item_is_retried_once_and_nothing_runs_twice(
    ssh: cl.Profile, tmp_path: Path
) -> None:
    def slow_once(x: int) -> int:
        if x == 5 and not os.path.exists("slow.5"):
            open("slow.5", "w").close()
            with open(f"ran.{x}.{os.getpid()}", "w"):
                pass
            time.sleep(120)  # the test kills this worker meanwhile
        else:
            with open(f"ran.{x}.{os.getpid()}", "w"):
                pass
            time.sleep(0.2)
        return x

    arr = cl.cluster(ssh.name)(slow_once).map(range(40), workers=4)
    deadline = time.monotonic() + 120
    while arr[5].state != cl.JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    assert arr[5].state == cl.JobState.RUNNING, arr[5].reason
    first_worker = arr[5].task
    runtime = get_runtime(ssh)
    killed = runtime.transport.run(["scancel", arr[5].native_id])
    assert killed.returncode == 0, killed.err
    assert arr.results(timeout=200) == list(range(40))
    assert arr[5].task != first_worker  # another worker ran the retry
    ran = _ran(ssh, arr.parts[0].job_dir)
    assert ran.count(5) == 2  # killed once, retried once
    assert sorted(set(ran)) == list(range(40)) and len(ran) == 41  # every other item once


def test_pool_on_the_local_scheduler(tmp_path: Path) -> None:
    cl.profiles.save(cl.Profile(name="lpool", scheduler="local", poll_interval=1.0))
    f = cl.cluster("lpool")(_marker())
    arr = f.map(range(600), workers=2)
    results = arr.results(timeout=120, return_exceptions=True)
    assert results[:500] == [x * 2 for x in range(500)]
    assert list(arr.failed()) == [500]
    assert _ran(cl.profiles.load("lpool"), arr.parts[0].job_dir) == list(range(600))


def test_plan_options_are_checked_before_anything_is_submitted(ssh: cl.Profile) -> None:
    f = cl.cluster(ssh.name)(_marker())
    with pytest.raises(ValueError, match="exclude each other"):
        f.map(range(3), chunksize=2, workers=2)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        f.map(range(3), workers=0)
    assert cl.jobs(profile=ssh.name) == []


def test_a_cancelled_pool_item_never_starts_and_the_pool_still_ends(ssh: cl.Profile) -> None:
    def nap(x: int) -> int:
        with open(f"ran.{x}.{os.getpid()}", "w"):
            pass
        time.sleep(0.5)
        return x

    arr = cl.cluster(ssh.name)(nap).map(range(6), workers=1)
    assert arr[5].cancel()  # one worker walks 0..5 in order: 5 has not started yet
    results = arr.results(timeout=120, return_exceptions=True)
    assert results[:5] == [0, 1, 2, 3, 4]
    assert isinstance(results[5], concurrent.futures.CancelledError)
    assert _ran(ssh, arr.parts[0].job_dir) == [0, 1, 2, 3, 4]
    assert arr.counts() == {"COMPLETED": 5, "CANCELLED": 1}
    worker = f"{arr.parts[0].native_id}_0"
    deadline = time.monotonic() + 60  # the worker does not wait for the cancelled item
    while slurm_state(worker) not in ("COMPLETED", "") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert slurm_state(worker) in ("COMPLETED", ""), slurm_state(worker)
