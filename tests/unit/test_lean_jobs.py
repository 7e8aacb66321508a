"""Jobs are futures made lean for 100,000-item maps (issue 30, item 1): they still behave
as concurrent.futures.Future does, for waiting, timeouts, callbacks and cancelling, and
an array's results()/failed() (read without locks) agree with each item's own answer."""

from __future__ import annotations

import concurrent.futures
import sys
import threading
import time

import pytest

import clusterlab as cl
from clusterlab.config.resources import Resources
from clusterlab.core.model.array import ArrayJob, ArrayPart
from clusterlab.core.model.job import Job
from clusterlab.core.model.leanfuture import FUTURE_SLOTS, LeanCondition
from clusterlab.core.model.plan import Plan
from clusterlab.core.runtime import get_runtime


def _runtime():  # type: ignore[no-untyped-def]
    return get_runtime(cl.profiles.resolve("local"))


def _job(i: int = 0) -> Job:
    return Job(_runtime(), f"j{i}", "n", f"1.{i}", "/x", Resources())


def test_a_job_sets_every_attribute_future_init_sets() -> None:
    """Job does Future.__init__'s work itself (with a lean condition): if a Python version
    adds an attribute there, this says so instead of an AttributeError in a user's wait."""
    assert set(vars(concurrent.futures.Future())) == set(FUTURE_SLOTS)
    job = _job()
    assert all(hasattr(job, name) for name in FUTURE_SLOTS)


def test_a_job_holds_no_per_instance_dict() -> None:
    """Slots, not a dict per Job: a dict of ~30 attributes is ~1.3 KB, x100,000 items."""
    job = _job()
    assert not vars(job)  # the dict Future brings stays empty
    assert sys.getsizeof(job) < 400


def test_result_waits_for_another_thread_and_times_out_without_it() -> None:
    job, other = _job(1), _job(2)
    threading.Timer(0.05, lambda: job.resolve(42)).start()
    assert job.result(timeout=10) == 42
    with pytest.raises(concurrent.futures.TimeoutError):
        other.result(timeout=0.01)
    with pytest.raises(concurrent.futures.TimeoutError):
        other.result(timeout=0)


def test_wait_as_completed_and_callbacks_see_the_outcome() -> None:
    jobs = [_job(i) for i in range(5)]
    called: list[str] = []
    for job in jobs:
        job.add_done_callback(lambda j: called.append(j.id))
    threading.Timer(0.05, lambda: jobs[3].resolve("x")).start()
    done, not_done = concurrent.futures.wait(
        jobs, timeout=10, return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done == {jobs[3]} and len(not_done) == 4
    for job in jobs[:3]:
        job.resolve(None)
    jobs[4].resolve(exception=ValueError("bad"))
    assert {j.id for j in concurrent.futures.as_completed(jobs, timeout=10)} == {j.id for j in jobs}
    assert sorted(called) == sorted(j.id for j in jobs)
    assert isinstance(jobs[4].exception(timeout=0), ValueError)


def test_many_waiters_are_all_woken() -> None:
    job = _job()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(job.result(10))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    job.resolve(7)
    for t in threads:
        t.join(10)
    assert got == [7] * 8


def test_lean_condition_refuses_wait_and_notify_without_the_lock() -> None:
    cond = LeanCondition()
    with pytest.raises(RuntimeError):
        cond.wait(0)
    with pytest.raises(RuntimeError):
        cond.notify()
    with cond, cond:  # re-entrant, as Future's condition is
        assert cond.wait(0) is False  # a timed-out wait gives the lock back, held twice


def _array(n: int) -> ArrayJob:
    runtime = _runtime()
    array = ArrayJob(runtime, "a1", "nap", n, Plan(n, n, 1))
    part = ArrayPart(array, "20", "/x/a1", [[i] for i in range(n)])
    res = Resources()
    array.elements = [part.new_item(runtime, i, i, res, []) for i in range(n)]
    array.parts.append(part)
    return array


def test_results_and_failed_agree_with_each_item() -> None:
    """results()/failed() read finished items without their locks; None values, errors,
    cancelled items and values let go of (read again) take the ordinary path."""
    arr = _array(6)
    arr[0].resolve(10)
    arr[1].resolve(None)
    arr[2].resolve(exception=KeyError("k"))
    arr[3].cancel_future()
    arr[4].resolve([1, 2])
    arr[5].resolve(5)
    out = arr.results(timeout=1, return_exceptions=True)
    assert out[0] == 10 and out[1] is None and out[4] == [1, 2] and out[5] == 5
    assert isinstance(out[2], KeyError)
    assert isinstance(out[3], concurrent.futures.CancelledError)
    assert sorted(arr.failed()) == [2, 3]
    with pytest.raises(KeyError):
        arr.results(timeout=1)


def test_results_of_an_unfinished_array_time_out() -> None:
    arr = _array(3)
    arr[0].resolve(1)
    with pytest.raises(TimeoutError):
        arr.results(timeout=0.01)
    assert arr.failed() == {}
    assert arr.wait(timeout=0) is False
