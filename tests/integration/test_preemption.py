"""A preempted job resumes from its checkpoint and returns once, on the sandbox's
preemptible partitions (version 2: `low` is PreemptMode=REQUEUE, `high` preempts it on the
same two namespace nodes). Nothing here talks to the job in between: SLURM stops and
requeues it, the runner notes why, and the next run loads the checkpoint."""

from __future__ import annotations

import os
import time

import pytest

import clusterlab as cl
from clusterlab.common import jobdir
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(480)]


def _steps_until_preempted() -> tuple[int, int]:
    """Its first run counts steps into its checkpoint until it is stopped; a later run
    returns where it resumed."""
    import time

    attempt = int(os.environ["CLUSTERLAB_ATTEMPT"])
    step = cl.checkpoint.load(0)
    resumed_at = step
    while attempt == 0:
        step += 1
        cl.checkpoint.save(step)
        time.sleep(0.5)
    return resumed_at, attempt


def _quick() -> str:
    return "high done"


def _wait(what: str, check: object, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_preempted_low_job_resumes_from_its_checkpoint_and_returns_once(
    sandbox: object,
) -> None:
    low = sandbox.preempt_low  # type: ignore[attr-defined]
    high = sandbox.preempt_high  # type: ignore[attr-defined]
    cl.profiles.save(ssh_profile(sandbox, name="preempt"))
    whole = {"nodes": 2, "memory": "200MB", "extra": ["--exclusive"]}
    f = cl.cluster("preempt", partition=low, requeue=True, **whole)(_steps_until_preempted)
    job = f.submit()
    other = None
    try:
        checkpoint = os.path.join(job.job_dir, jobdir.CHECKPOINT)
        _wait("the low job to save a checkpoint", lambda: os.path.exists(checkpoint))
        native = job.native_id
        other = cl.cluster("preempt", partition=high, **whole)(_quick).submit()
        assert other.result(timeout=300) == "high done"  # it ran: the low job made room
        resumed_at, attempt = job.result(timeout=300)
    finally:
        job.cancel()
        if other is not None:
            other.cancel()
    assert attempt == 1 and resumed_at > 0  # the second run started from the first's steps
    assert job.state == cl.JobState.COMPLETED and job.native_id == native  # the same job
    assert job.attempts == 2
    assert [run["cause"] for run in job.history] == ["preempted by a job of higher priority", ""]
    (rec,) = [r for r in cl.jobs() if r.id == job.id]
    assert rec.attempt_text == "attempt 2 of 4" and rec.state == "COMPLETED"
