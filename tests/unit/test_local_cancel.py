"""Cancelling a local job right as it starts stops it (review defect: 9 of 60 jobs
cancelled right before they started ran to completion while reported cancelled)."""

from __future__ import annotations

import time
from pathlib import Path

import clusterlab as cl


def _marker(root: Path) -> object:
    def leave_mark(i: int) -> int:
        import time as t

        t.sleep(1.0)  # long enough for a cancel that lost the race to be seen running
        (root / f"ran.{i}").touch()
        return i

    return leave_mark


def test_a_job_cancelled_as_it_starts_never_completes(tmp_path: Path) -> None:
    cl.profiles.save(cl.Profile(name="lc", scheduler="local", max_concurrent=4))
    fn = cl.cluster("lc")(_marker(tmp_path))  # type: ignore[arg-type]
    jobs = []
    for i in range(60):
        job = fn.submit(i)
        time.sleep(0.002 * (i % 10))  # cancel at different points of the start-up
        job.cancel()
        jobs.append(job)
    for job in jobs:
        assert job.cancelled() and job.state == cl.JobState.CANCELLED
    time.sleep(2.5)  # any job that escaped the cancel would have left its mark by now
    ran = sorted(p.name for p in tmp_path.glob("ran.*"))
    assert ran == [], f"cancelled jobs ran to completion: {ran}"
