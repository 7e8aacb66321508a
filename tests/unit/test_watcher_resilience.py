"""One bad job must only fail itself (review defect: one malformed line in a job's status
file raised in the status parser on every poll and froze the watcher for every job of the
profile, forever)."""

from __future__ import annotations

import clusterlab as cl


def _vandal() -> object:
    def scribble_on_own_status() -> int:
        import os
        import time

        time.sleep(0.5)  # a poll or two sees the job running first
        here = os.getcwd()  # work/ inside the job dir (the job dir itself before the fix)
        job_dir = os.path.dirname(here) if os.path.basename(here) == "work" else here
        with open(os.path.join(job_dir, "status"), "a") as fh:
            fh.write('{"event": "started", "pid": "not a number"}\n[1, 2]\nnot json\n')
        return 7

    return scribble_on_own_status


def test_a_job_scribbling_on_its_status_file_does_not_stop_the_others() -> None:
    cl.profiles.save(cl.Profile(name="lw", scheduler="local", poll_interval=0.5))
    vandal = cl.cluster("lw")(_vandal()).submit()  # type: ignore[arg-type]
    others = cl.cluster("lw")(abs).map(range(-20, 0))
    assert others.results(timeout=120) == list(range(20, 0, -1))
    assert vandal.result(timeout=60) == 7
    assert vandal.state == cl.JobState.COMPLETED
