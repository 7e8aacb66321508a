"""``job.efficiency()`` on the real sandbox: from the runner's measurements (the same
sentence as the panel's hint), for arrays over their items, and from SLURM's accounting
(``sacct``) for a finished job whose job dir was deleted."""

from __future__ import annotations

import time
from typing import Any

import pytest

import clusterlab as cl

pytestmark = pytest.mark.timeout(240)


def _small(x: int) -> int:
    return x + 1


def _hold(x: int) -> int:
    """Holds ~64 MB for a few seconds: long enough for SLURM's accounting to sample it."""
    block = bytearray(64 * 1024 * 1024)
    time.sleep(4)
    return x + len(block) // len(block)


def test_a_job_that_asked_too_much_memory_is_told_what_would_do(
    slurm_profile: cl.Profile,
) -> None:
    job = cl.cluster(slurm_profile.name, memory="4GB", cores=1)(_small).submit(1)
    assert job.result(timeout=120) == 2
    eff = job.efficiency()
    assert eff.source == "runner" and eff.memory is not None and 0 < eff.memory < 0.25
    assert eff.cpu is not None and 0 <= eff.cpu <= 1
    assert "memory='1GB' would do" in eff.advice
    assert eff.advice == job.usage_hint  # one source for the API, the panel and the CLI
    suggestion = job.suggested_resources()
    assert suggestion["memory"] == "1GB" and suggestion["cores"] == 1
    again = cl.cluster(slurm_profile.name)(_small).options(**suggestion).submit(2)
    assert again.result(timeout=120) == 3


def test_an_array_is_judged_over_all_its_items(slurm_profile: cl.Profile) -> None:
    arr = cl.cluster(slurm_profile.name, memory="4GB")(_small).map(range(4))
    assert arr.results(timeout=120) == [1, 2, 3, 4]
    eff = arr.efficiency()
    assert eff.items == 4 and eff.memory is not None and eff.median["memory"] is not None
    assert eff.median["memory"] <= eff.memory < 0.25
    assert arr.suggested_resources()["memory"] == "1GB"


def test_efficiency_from_accounting_after_the_job_dir_was_deleted(
    slurm_profile: cl.Profile, sandbox: Any
) -> None:
    job = cl.cluster(slurm_profile.name, memory="2GB", cores=2)(_hold).submit(5)
    assert job.result(timeout=120) == 6
    job.cleanup()  # the runner's files are gone: only accounting remains
    eff = job.efficiency(source="accounting")
    deadline = time.monotonic() + 60
    while "has not recorded its end yet" in eff.advice:  # slurmdbd hears a moment later
        assert time.monotonic() < deadline, eff.advice
        time.sleep(0.5)
        eff = job.efficiency(source="accounting")
    if not getattr(sandbox, "accounting", False):
        assert eff.source == "" and "SLURM's accounting cannot be asked: sacct says" in eff.advice
        pytest.skip("this sandbox keeps no accounting (needs sandbox version 2: slurmdbd)")
    assert eff.source == "accounting" and eff.ended == ""  # completed: not killed
    assert eff.memory is not None and 0 < eff.memory < 0.25
    assert eff.peak_memory is not None and eff.peak_memory >= 64 * 1024 * 1024
    assert eff.cpu is not None and eff.cpu <= 0.5  # one busy core at most of 2
    assert "memory='1GB' would do" in eff.advice


@pytest.mark.sge
def test_efficiency_from_grid_engines_accounting_after_the_job_dir_was_deleted(
    sge_cell: Any, sandbox: Any, tmp_path: Any
) -> None:
    """qacct is Grid Engine's ground truth once the runner's files are gone (and the only
    one for a job killed at h_rt or h_vmem): before, efficiency said clusterlab cannot
    read Grid Engine's accounting."""
    from tests.conftest import sge_profile

    cl.profiles.save(sge_profile(sandbox, sge_cell, "sgeacct", tmp_path.name))
    job = cl.cluster("sgeacct", memory="2GB", cores=2)(_hold).submit(5)
    assert job.result(timeout=180) == 6
    job.cleanup()
    eff = job.efficiency(source="accounting")
    deadline = time.monotonic() + 60
    while "nor accounting has any" in eff.advice:  # qmaster writes the record a moment later
        assert time.monotonic() < deadline, eff.advice
        time.sleep(0.5)
        eff = job.efficiency(source="accounting")
    assert eff.source == "accounting" and eff.ended == "", eff.advice
    assert eff.peak_memory is not None and eff.peak_memory >= 64 * 1024 * 1024
    assert eff.memory is not None and 0 < eff.memory < 0.25
    assert eff.cpu is not None and eff.cpu <= 0.5  # one busy core at most of 2
    assert "memory='1GB' would do" in eff.advice
