"""retries= after a kill from outside, on a scheduler without requeue: real Grid Engine
(over the sandbox's sshd). The watcher submits the same job dir again; the function resumes
from its checkpoint; one Job, one result. ``direct`` cannot run a job dir twice (its host
queue keeps the run's record there): retries= alone is refused there with what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl

from ..conftest import remove_sge_dir, sge_profile
from .direct_support import drain, here_profile
from .test_retries import _kill_first_run, _killed_once

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture
def elsewhere(sandbox: object, sge_cell: object, tmp_path: Path) -> Iterator[cl.Profile]:
    profile = sge_profile(sandbox, sge_cell, "sge", tmp_path.name)
    cl.profiles.save(profile)
    yield profile
    remove_sge_dir(sandbox, profile, tmp_path.name)


def test_a_killed_job_is_submitted_again_and_resumes(elsewhere: cl.Profile) -> None:
    f = cl.cluster(elsewhere.name, retries=1, retry_backoff=0.5)
    job = f(_killed_once).submit()
    try:
        _kill_first_run(job)
        assert job.result(timeout=200) == ("1", "before the kill")
    finally:
        job.cancel()
    assert job.attempts == 2
    assert str(job.history[0]["cause"]).startswith("rerun after: ")


def test_direct_refuses_reruns_it_cannot_make_but_retries_the_functions_errors(
    tmp_path: Path,
) -> None:
    from .test_retries import _flaky

    profile = here_profile(tmp_path)
    cl.profiles.save(profile)
    try:
        with pytest.raises(cl.SubmitError, match="cannot run a job dir twice: add retry_on="):
            cl.cluster(profile.name, retries=2)(abs).submit(1)
        f = cl.cluster(profile.name, retries=2, retry_on=OSError, retry_backoff=0)
        job = f(_flaky).submit(1)
        assert job.result(timeout=120) == (1, "1") and job.attempts == 2
    finally:
        drain(profile)
