"""One behaviour suite run on the local scheduler, SLURM via the local transport and SLURM
over real SSH: what a user sees when they call, submit, wait for and cancel jobs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

pytestmark = pytest.mark.timeout(180)


def test_closure_runs_and_prints(
    any_profile: cl.Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    factor = 6

    @cl.cluster(any_profile.name, cores=1, memory="200MB")
    def scale(x: int) -> int:
        import sys

        print(f"scaling {x}")
        print("a warning", file=sys.stderr)
        return x * factor

    assert scale(7) == 42
    out, err = capsys.readouterr()
    assert "scaling 7" in out
    assert "a warning" in err


def test_lambda_submit_returns_job_future(any_profile: cl.Profile) -> None:
    square = cl.cluster(any_profile.name)(lambda x: x * x)
    job = square.submit(9)
    assert isinstance(job, concurrent.futures.Future)
    assert job.result(timeout=60) == 81
    assert job.state == cl.JobState.COMPLETED
    assert job.done() and not job.running()
    assert job.started_at is not None and job.ended_at is not None
    assert "runner.py" in job.job_script()


def test_remote_exception_keeps_type_and_traceback(any_profile: cl.Profile) -> None:
    @cl.cluster(any_profile.name)
    def fails(n: int) -> None:
        def inner() -> None:
            raise KeyError(f"missing-{n}")

        inner()

    with pytest.raises(KeyError, match="missing-3") as err:
        fails(3)
    cause = err.value.__cause__
    assert isinstance(cause, cl.RemoteTraceback)
    assert "in inner" in cause.tb and "in fails" in cause.tb
    job = fails.submit(4)
    with pytest.raises(KeyError):
        job.result(timeout=60)
    assert job.state == cl.JobState.FAILED
    assert job.reason.startswith("raised KeyError")


def test_unpicklable_argument_refused_before_submission(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name)(lambda lock: None)
    runtime = get_runtime(any_profile)
    # The first call of a profile checks once that it can work (a FAILED job if it cannot:
    # issue 25); after that an unpicklable argument never makes a round trip.
    assert cl.cluster(any_profile.name)(abs)(-1) == 1
    before = runtime.transport.round_trips
    with pytest.raises(cl.SerializationError, match=r"argument 0 .*\(lock\)"):
        f.submit(threading.Lock())
    assert runtime.transport.round_trips == before  # nothing reached the cluster


def test_result_timeout_leaves_job_running(any_profile: cl.Profile) -> None:
    job = cl.cluster(any_profile.name)(time.sleep).submit(3)
    with pytest.raises(TimeoutError):
        job.result(timeout=0.5)
    assert not job.done()
    assert job.result(timeout=60) is None
    assert job.state == cl.JobState.COMPLETED


def test_cancel_running_job(any_profile: cl.Profile) -> None:
    job = cl.cluster(any_profile.name)(time.sleep).submit(120)
    deadline = time.time() + 60
    while job.state != cl.JobState.RUNNING and time.time() < deadline:
        time.sleep(0.2)
    assert job.state == cl.JobState.RUNNING
    assert job.cancel() is True
    assert job.state == cl.JobState.CANCELLED
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=5)
    assert job.cancel() is False  # already finished


def test_executor_and_await(any_profile: cl.Profile) -> None:
    with cl.Executor(any_profile.name, cores=1) as ex:
        jobs = [ex.submit(pow, 2, i) for i in range(4)]
        assert list(ex.map(abs, [-1, -2])) == [1, 2]
    assert all(j.done() for j in jobs)
    assert [j.result() for j in jobs] == [1, 2, 4, 8]

    async def main() -> int:
        job = cl.cluster(any_profile.name)(len).submit("abcd")
        result: int = await job
        return result

    assert asyncio.run(main()) == 4


def test_options_override_resources(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name, cores=1, time="10")(lambda: 1)
    job = f.options(time="20").submit()
    assert job.resources.time_s == 1200 and job.resources.cores == 1
    assert job.result(timeout=60) == 1


def test_one_round_trip_per_poll_however_many_jobs(
    any_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher asks once per interval for all active jobs, not once per job. (Polling
    alone: with push each job's end is collected as it is pushed, see test_push.py.)"""
    monkeypatch.setenv("CLUSTERLAB_PUSH", "0")
    runtime = get_runtime(any_profile)
    jobs = [cl.cluster(any_profile.name)(time.sleep).submit(2) for _ in range(8)]
    polls0, trips0 = runtime.watcher.polls, runtime.transport.round_trips
    concurrent.futures.wait(jobs, timeout=90)
    assert all(j.state == cl.JobState.COMPLETED for j in jobs)
    polls = runtime.watcher.polls - polls0
    trips = runtime.transport.round_trips - trips0
    assert polls >= 1
    # one round trip per poll, plus one result download per batch of finished jobs
    assert trips <= 2 * polls, (trips, polls)
