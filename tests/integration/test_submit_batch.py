"""Submission that never waits (issue 14, item 2), on the real SLURM sandbox over SSH.

``submit()`` returns a SUBMITTING job at once; the runtime's submission thread stages and
submits the jobs of a loop together. What a user sees: the state, the values, the errors,
cancel and dependencies; and the transport's round-trip count (never a time).
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.core import events, ledger
from clusterlab.core.runtime import get_runtime
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def ssh(sandbox: Any) -> cl.Profile:
    profile = ssh_profile(sandbox, name="batchssh")
    cl.profiles.save(profile)
    return profile


def _square(x: int) -> int:
    return x * x


def _wait_accepted(jobs: list[cl.Job], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while any(j.state == cl.JobState.SUBMITTING for j in jobs):
        assert time.monotonic() < deadline, "jobs stayed SUBMITTING"
        time.sleep(0.05)


def test_submit_returns_submitting_then_the_scheduler_takes_it(ssh: cl.Profile) -> None:
    seen: list[str] = []
    unsubscribe = events.subscribe(lambda e: seen.append(e.state.value))
    try:
        job = cl.cluster(ssh.name)(_square).submit(7)
        assert job.state == cl.JobState.SUBMITTING and job.native_id == ""
        assert "SUBMITTING" in repr(job)
        row = ledger.get(job.id)
        assert row is not None and row.state == "SUBMITTING"  # in the ledger at once
        assert job.result(timeout=120) == 49
    finally:
        unsubscribe()
    assert job.native_id.isdigit()
    assert seen[0] == "SUBMITTING" and "PENDING" in seen and seen[-1] == "COMPLETED"
    assert ledger.get(job.id).state == "COMPLETED"  # type: ignore[union-attr]


def test_a_loop_of_submits_is_staged_in_few_round_trips(
    ssh: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = cl.cluster(ssh.name, memory="50MB")(_square)
    f.submit(0).result(timeout=120)  # connected, remote environment checked
    runtime = get_runtime(ssh)
    staging: list[str] = []  # round trips of the submission thread (not polls, results)
    count = runtime.transport._count_round_trip

    def counted() -> None:
        if threading.current_thread().name.startswith("clusterlab-submit-"):
            staging.append(threading.current_thread().name)
        count()

    monkeypatch.setattr(runtime.transport, "_count_round_trip", counted)
    batches = runtime.batcher.batches
    jobs = [f.submit(i) for i in range(200)]
    _wait_accepted(jobs)
    # How many calls share a batch depends on how fast this loop runs against one staging
    # round trip (on a loaded 2-core CI machine: ~10 per batch; idle: ~70); before, every
    # call was its own round trip (200), so a quarter of that is a clear bound either way.
    assert runtime.batcher.batches - batches <= 50
    assert len(staging) <= 50, len(staging)  # one per batch: stage + submit together
    assert len({j.native_id for j in jobs}) == 200
    assert [j.result(timeout=180) for j in jobs] == [i * i for i in range(200)]


def test_a_refused_submission_reaches_the_job_with_the_same_sentence(ssh: cl.Profile) -> None:
    good = cl.cluster(ssh.name)(_square)
    bad = cl.cluster(ssh.name, partition="nosuchpart")(abs)
    jobs = [good.submit(2), bad.submit(-1), good.submit(3)]  # one batch
    with pytest.raises(cl.SubmitError, match="the partition does not exist"):
        jobs[1].result(timeout=120)
    assert jobs[1].state == cl.JobState.FAILED
    assert jobs[1].reason.startswith("not submitted: slurm refused the job")
    assert ledger.get(jobs[1].id).state == "FAILED"  # type: ignore[union-attr]
    assert [jobs[0].result(timeout=120), jobs[2].result(timeout=120)] == [4, 9]


def test_cancel_of_a_submitting_job(ssh: cl.Profile) -> None:
    name = f"cancelsub{time.time_ns() % 10**8}"
    f = cl.cluster(ssh.name, name=name)(time.sleep)
    job = f.submit(60)
    assert job.state == cl.JobState.SUBMITTING
    assert job.cancel()
    assert job.state == cl.JobState.CANCELLED and job.cancelled()
    runtime = get_runtime(ssh)
    deadline = time.monotonic() + 60
    while not runtime.batcher.idle():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    out = ["squeue", "--noheader", "--states=PENDING,RUNNING", f"--name={name}", "--format=%i"]
    for _ in range(100):  # dropped before submission, or cancelled right after
        if not subprocess.run(out, capture_output=True, text=True, check=True).stdout.strip():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"job {name} still queued after its cancel()")
    assert ledger.get(job.id).state == "CANCELLED"  # type: ignore[union-attr]


def test_a_dependency_on_a_submitting_job(ssh: cl.Profile) -> None:
    first = cl.cluster(ssh.name)(_square).submit(5)
    assert first.state == cl.JobState.SUBMITTING
    then = cl.cluster(ssh.name)(_square).submit(first)  # its result is the argument
    assert then.result(timeout=120) == 625
    assert f"--dependency=afterok:{first.native_id}" in then.job_script()


def test_a_dependency_that_was_never_submitted_fails_its_dependent(ssh: cl.Profile) -> None:
    first = cl.cluster(ssh.name, partition="nosuchpart")(abs).submit(-1)
    then = cl.cluster(ssh.name)(_square).submit(first)
    with pytest.raises(cl.ClusterlabError, match=f"dependency {first.id} .*already ended FAILED"):
        then.result(timeout=120)
    assert then.state == cl.JobState.FAILED
