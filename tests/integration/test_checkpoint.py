"""cl.checkpoint inside a function on real clusters: the local backend (clusterlab
installed) and SLURM over SSH, whose Python has cloudpickle and not clusterlab (before the
runner's shim such a function failed with "No module named 'clusterlab'")."""

from __future__ import annotations

import pytest

import clusterlab as cl

pytestmark = pytest.mark.timeout(240)


def _saves_then_reads(step: int) -> tuple[object, object]:
    before = cl.checkpoint.load("none yet")
    cl.checkpoint.save({"step": step})
    return before, cl.checkpoint.load()


def test_a_function_keeps_its_checkpoint_in_its_job_dir(any_profile: cl.Profile) -> None:
    job = cl.cluster(any_profile.name, memory="100MB")(_saves_then_reads).submit(5)
    assert job.result(timeout=180) == ("none yet", {"step": 5})


def _rank_saves() -> str:
    import os

    if cl.task().rank == 0:
        cl.checkpoint.save("kept")
    return os.environ.get("CLUSTERLAB_CHECKPOINT", "")


def test_every_rank_of_a_multi_task_job_keeps_the_jobs_checkpoint(
    any_profile: cl.Profile,
) -> None:
    """Before the fix the ranks had no checkpoint place: cl.checkpoint kept the value in
    the rank's memory only, so a requeued multi-task job started again from nothing."""
    job = cl.cluster(any_profile.name, tasks=2, memory="100MB")(_rank_saves).submit()
    where = job.task_results(timeout=180)
    assert where[0] and where == [where[0]] * 2
    assert where[0].startswith(job.job_dir) and where[0].endswith("checkpoint.pkl")
