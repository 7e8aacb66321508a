"""A job cancelled by the user while the watcher settles it: no error, one outcome."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

import clusterlab as cl
from clusterlab.config.resources import Resources
from clusterlab.core.model.job import Job
from clusterlab.core.runtime import get_runtime


def _race(*calls: Callable[[], object]) -> list[BaseException]:
    """Run ``calls`` at the same moment on their own threads; what they raised."""
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> None:
        start.wait()
        try:
            fn()
        except BaseException as exc:  # the races raised RuntimeError/InvalidStateError
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _job() -> Job:
    return Job(get_runtime(cl.profiles.resolve("local")), "j", "n", "1.1", "/x", Resources())


def test_cancelling_from_two_threads_at_once_notifies_once() -> None:
    for _ in range(200):
        job = _job()
        assert _race(job.cancel_future, job.cancel_future) == []
        done, _ = concurrent.futures.wait([job], timeout=1)
        assert done == {job} and job.cancelled()


def test_a_result_collected_while_the_user_cancels_never_raises() -> None:
    for _ in range(200):
        job = _job()
        assert _race(job.cancel_future, lambda job=job: job.resolve(42)) == []
        assert job.cancelled() or job.result(timeout=0) == 42


def test_a_final_state_set_here_is_final_but_a_restored_one_may_be_corrected() -> None:
    """A user's cancel is final even before the future is notified (the watcher's late
    COMPLETED must not win); a state restored from the ledger is only its last word."""
    runtime = get_runtime(cl.Profile(name="fin", scheduler="local"))
    job = Job(runtime, "j1", "n", "1.1", "/nonexistent", Resources())
    job.set_state(cl.JobState.CANCELLED, "cancelled by you")
    assert not job.set_state(cl.JobState.COMPLETED, "")
    assert job.state == cl.JobState.CANCELLED
    restored = Job(runtime, "j2", "n", "1.2", "/nonexistent", Resources())
    restored.restore(cl.JobState.LOST, "left the queue", 0.0, None, None)
    assert restored.set_state(cl.JobState.COMPLETED, "")
    assert restored.state == cl.JobState.COMPLETED
