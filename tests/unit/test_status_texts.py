"""Issue 25, defect 7: status texts say what is true. A local job with free slots is not
"waiting for a free slot"; one that does wait says how many run; a cancelled job does not
keep "running on <host>" beside its CANCELLED badge. Real local jobs; every state and
reason a job went through is read from the job events the panel and widgets receive."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import clusterlab as cl
from clusterlab.core.ledger import store as ledger
from clusterlab.core.model import events

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def seen() -> Iterator[list[events.JobEvent]]:
    got: list[events.JobEvent] = []
    unsubscribe = events.subscribe(got.append)
    try:
        yield got
    finally:
        unsubscribe()


def _reasons(seen: list[events.JobEvent], job: cl.Job) -> list[str]:
    return [e.reason for e in seen if e.job_id == job.id]


def test_a_job_alone_is_not_waiting_for_a_slot_and_one_that_waits_says_why(
    seen: list[events.JobEvent],
) -> None:
    cl.profiles.save(cl.Profile(name="two", scheduler="local", max_concurrent=2))
    alone = cl.cluster("two")(time.sleep).submit(0.5)
    alone.result(timeout=60)
    assert not [r for r in _reasons(seen, alone) if "free slot" in r], _reasons(seen, alone)
    cl.profiles.save(cl.Profile(name="one", scheduler="local", max_concurrent=1))
    busy = cl.cluster("one")(time.sleep)
    first, second = busy.submit(3), busy.submit(0)
    second.result(timeout=60)
    assert "waiting for a free slot (1 of 1 running)" in _reasons(seen, second)
    assert not [r for r in _reasons(seen, first) if "free slot" in r]


def _running_on_a_host(job: cl.Job) -> None:
    deadline = time.monotonic() + 60
    while not (job.state == cl.JobState.RUNNING and job.reason.startswith("running on ")):
        assert time.monotonic() < deadline, (job.state, job.reason)
        time.sleep(0.05)


def test_a_cancelled_job_does_not_say_it_is_running() -> None:
    job = cl.cluster("local")(time.sleep).submit(30)
    _running_on_a_host(job)
    job.cancel()
    assert (job.state, job.reason) == (cl.JobState.CANCELLED, "cancelled by you")
    (row,) = [r for r in ledger.query() if r.id == job.id]
    assert (row.state, row.reason) == ("CANCELLED", "cancelled by you")


def test_a_job_cancelled_from_another_kernel_says_you_cancelled_it() -> None:
    """The panel's kernel cancels a notebook's job: the notebook's kernel, which runs it,
    said "stopped by SIGTERM (cancelled outside clusterlab, ...)"."""
    job = cl.cluster("local")(time.sleep).submit(30)
    _running_on_a_host(job)
    other = f"import clusterlab as cl; cl.job({job.id!r}).cancel()"
    subprocess.run([sys.executable, "-c", other], check=True, timeout=60)
    concurrent.futures.wait([job], timeout=60)
    assert (job.state, job.reason) == (cl.JobState.CANCELLED, "cancelled by you")
