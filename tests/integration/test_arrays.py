"""Array jobs and dependencies on the local scheduler and on SLURM (both transports)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import threading
import time
import uuid

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

pytestmark = pytest.mark.timeout(300)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_throttled_array_of_200_never_exceeds_its_limit(any_profile: cl.Profile) -> None:
    nap = cl.cluster(any_profile.name)(lambda x: (time.sleep(0.2), x)[1])
    arr = nap.map(range(200), max_concurrent=5, chunksize=1)  # 200 tasks: %5 is the limit
    assert len(arr) == 200 and len(arr.parts) == 1  # one native array job
    assert arr.results(timeout=280) == list(range(200))
    intervals = [(j.started_at, j.ended_at) for j in arr]
    assert all(s is not None and e is not None for s, e in intervals)
    peak = max_overlap(intervals)  # type: ignore[arg-type]
    assert 1 < peak <= 5, peak
    assert arr.state == cl.JobState.COMPLETED and arr.counts() == {"COMPLETED": 200}


def test_chunksize_groups_items_but_results_stay_per_item(any_profile: cl.Profile) -> None:
    arr = cl.cluster(any_profile.name)(lambda x: x * 10).map(range(10), chunksize=4)
    assert arr.plan == "10 items in 3 tasks of 4"
    assert [j.task for j in arr] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert arr.results(timeout=120) == [x * 10 for x in range(10)]
    assert arr[7].result() == 70


def test_one_failing_item_and_rerun_failed(any_profile: cl.Profile) -> None:
    marker = f"/tmp/clusterlab-rerun-{uuid.uuid4().hex}"

    def flaky(x: int) -> int:
        if x == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            raise ValueError(f"item {x} failed once")
        return x + 100

    arr = cl.cluster(any_profile.name)(flaky).map(range(6))
    assert arr.wait(timeout=120)
    failed = arr.failed()
    assert list(failed) == [3] and isinstance(failed[3], ValueError)
    assert arr[3].state == cl.JobState.FAILED and arr[0].state == cl.JobState.COMPLETED
    with pytest.raises(ValueError, match="item 3 failed once"):
        arr.results()
    assert isinstance(arr.results(return_exceptions=True)[3], ValueError)
    first_parts = len(arr.parts)
    arr.rerun_failed()
    assert len(arr.parts) == first_parts + 1  # only the failed item was resubmitted
    assert arr.results(timeout=120) == [x + 100 for x in range(6)]
    assert arr.failed() == {}


def test_chain_with_data_passed_by_job_arguments(any_profile: cl.Profile) -> None:
    name = any_profile.name
    base = cl.cluster(name)(lambda: 1000).submit()
    squares = cl.cluster(name)(lambda x: x * x).after(base).map(range(5))
    total = cl.cluster(name)(lambda values, offset: sum(values) + offset).submit(squares, base)
    assert total.result(timeout=120) == 30 + 1000
    assert set(total.after_ids) == {squares.id, base.id}


def test_map_with_several_iterables_and_fixed_keyword_arguments(any_profile: cl.Profile) -> None:
    def power(x: int, y: int, base: int = 1, scale: int = 1) -> int:
        return (base + x**y) * scale

    f = cl.cluster(any_profile.name)(power)
    pairs = f.map([1, 2, 3], [2, 2, 2], base=10, scale=2)
    assert pairs.results(timeout=120) == [22, 28, 38]
    assert pairs.name == "power"  # the bound arguments do not rename the job
    with pytest.raises(ValueError, match="different lengths \\(3, 2\\).*zip"):
        f.map([1, 2, 3], [1, 2])
    # A Job among the fixed arguments is a dependency: every call gets its result.
    offset = cl.cluster(any_profile.name)(lambda: 1000).submit()
    shifted = f.map([1, 2], [1, 1], base=offset)
    assert shifted.results(timeout=120) == [1001, 1002]
    assert shifted.failed() == {} and shifted[0].after_ids == [offset.id]


def test_fixed_arguments_travel_once_not_per_item() -> None:
    from pathlib import Path

    big = list(range(200_000))  # ~1 MB pickled
    arr = cl.cluster("local")(lambda x, data: x + len(data)).map(range(50), chunksize=1, data=big)
    assert arr.results(timeout=120) == [x + 200_000 for x in range(50)]
    job_dir = Path(arr.parts[0].job_dir)
    items = list((job_dir / "items").glob("*.pkl"))
    assert len(items) == 50 and max(p.stat().st_size for p in items) < 2_000
    assert (job_dir / "fn.pkl").stat().st_size > 500_000  # the list, once, with the function


def test_failed_dependency_cancels_dependents(any_profile: cl.Profile) -> None:
    name = any_profile.name

    def boom() -> None:
        raise RuntimeError("prep failed")

    prep = cl.cluster(name)(boom).submit()
    single = cl.cluster(name)(abs).submit(-1, after=[prep])
    arr = cl.cluster(name)(abs).after(prep).map([-1, -2])
    for job in [single, *arr]:
        with pytest.raises(concurrent.futures.CancelledError):
            job.result(timeout=120)
        assert job.state == cl.JobState.CANCELLED
        assert job.reason.startswith("dependency failed: job ")
        assert f"{prep.id} (boom) ended FAILED" in job.reason
    if any_profile.scheduler == "slurm":  # nothing left pending forever in the queue
        out = subprocess.run(
            ["squeue", "--noheader", "--states=PENDING", f"--jobs={single.native_id}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert out.strip() == ""


def test_after_on_submitted_job_explains_the_right_form(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name)(abs)
    job = f.submit(-1)
    with pytest.raises(cl.ClusterlabError, match=r"fixed at submission.*abs.after\(a, b\)"):
        job.after(job)
    arr = f.map([1])
    with pytest.raises(cl.ClusterlabError, match="already submitted"):
        arr.after(job)
    assert job.result(timeout=60) == 1 and arr.results(timeout=60) == [1]


def test_executor_map_is_one_array_and_as_completed(
    any_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = get_runtime(any_profile)
    mine: list[int] = []  # round trips made by this thread (the watcher polls on its own)
    run = runtime.transport.run

    def counted(*args: object, **kwargs: object) -> object:
        if threading.current_thread() is threading.main_thread():
            mine.append(1)
        return run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.transport, "run", counted)
    with cl.Executor(any_profile.name) as ex:
        trips = len(mine)
        results = ex.map(pow, [2, 3, 4], [2, 2, 2])
        first_trips = len(mine) - trips
        assert list(results) == [4, 9, 16]
        trips = len(mine)
        again = ex.map(pow, [5, 6], [2, 2])
        submit_trips = len(mine) - trips
        assert list(again) == [25, 36]
    # one-off per session: the home dir (once per connection), the private job dir + remote
    # Python check (one trip) and the scheduler's array limits; after that, one
    # staging+submit round trip per map, whatever its size
    assert first_trips <= 4
    assert submit_trips == 1
    arr = cl.cluster(any_profile.name)(lambda x: x).map(range(4))
    assert sorted(j.result() for j in cl.as_completed(arr, timeout=120)) == [0, 1, 2, 3]


def test_cancel_whole_array(any_profile: cl.Profile) -> None:
    arr = cl.cluster(any_profile.name)(time.sleep).map([60] * 4, max_concurrent=2)
    deadline = time.time() + 60
    while arr.counts().get("RUNNING", 0) < 1 and time.time() < deadline:
        time.sleep(0.2)
    assert arr.cancel()
    assert arr.counts() == {"CANCELLED": 4}
    assert arr.wait(timeout=5)


def test_job_from_another_profile_cannot_be_a_dependency(sandbox: object) -> None:
    from tests.conftest import ssh_profile

    cl.profiles.save(ssh_profile(sandbox, name="other"))
    local_job = cl.cluster("local")(lambda: 1).submit()
    with pytest.raises(cl.ClusterlabError, match="a scheduler can only wait for its own jobs"):
        cl.cluster("other")(abs).submit(local_job)
    assert local_job.result(timeout=60) == 1


def test_map_past_the_array_size_limit_is_split(slurm_profile: cl.Profile) -> None:
    """Past MaxArraySize a map becomes several native arrays; items and order are kept.
    (The limit is lowered for the test; the sandbox's real one is 1001.)"""
    runtime = get_runtime(slurm_profile)
    runtime.backend._max_array = 4  # type: ignore[attr-defined]
    try:
        arr = cl.cluster(slurm_profile.name)(lambda x: x * 3).map(
            range(10), max_concurrent=4, chunksize=1
        )
        assert len(arr.parts) == 3 and len({p.native_id for p in arr.parts}) == 3
        assert arr.results(timeout=120) == [x * 3 for x in range(10)]
    finally:
        runtime.backend._max_array = None  # type: ignore[attr-defined]
