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
