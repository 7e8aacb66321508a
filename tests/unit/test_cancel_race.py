"""A job cancelled by the user while the watcher settles it CANCELLED: notified once."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

import clusterlab as cl
from clusterlab.core import get_runtime
from clusterlab.job import Job
from clusterlab.resources import Resources


def test_cancelling_from_two_threads_at_once_notifies_once() -> None:
    runtime = get_runtime(cl.profiles.resolve("local"))
    for _ in range(200):
        job = Job(runtime, "j", "n", "1.1", "/nonexistent", Resources())
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def cancel(
            job: Job = job,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                job._cancel_future()
            except BaseException as exc:  # the race raised RuntimeError before the fix
                errors.append(exc)

        threads = [threading.Thread(target=cancel) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        done, _ = concurrent.futures.wait([job], timeout=1)
        assert done == {job} and job.cancelled()


def test_a_result_collected_while_the_user_cancels_never_raises() -> None:
    runtime = get_runtime(cl.profiles.resolve("local"))
    for _ in range(200):
        job = Job(runtime, "j", "n", "1.1", "/nonexistent", Resources())
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(
            fn: Callable[[], object],
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(job._cancel_future,)),
            threading.Thread(target=run, args=(lambda job=job: job._resolve(42),)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert job.cancelled() or job.result(timeout=0) == 42
