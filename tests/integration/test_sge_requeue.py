"""requeue=True on the real Grid Engine cell (over the sandbox's sshd): the job is
rerunnable (``-r y``) and asks for a soft limit ``s_rt`` before its ``h_rt``; Grid Engine
sends USR1 at ``s_rt``, the runner saves (``on_signal``) and ends the run with exit code 99;
Grid Engine queues it again (``Rq``, same job id) and the next run resumes from its
checkpoint. No kernel is involved in the requeue; the result arrives once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl

from ..conftest import remove_sge_dir, sge_profile

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture
def sge(sandbox: object, sge_cell: object, tmp_path: Path) -> Iterator[cl.Profile]:
    profile = sge_profile(sandbox, sge_cell, "sgerq", tmp_path.name)
    cl.profiles.save(profile)
    yield profile
    remove_sge_dir(sandbox, profile, tmp_path.name)


def _counting() -> tuple[int, int, list[tuple[int, int]]]:
    """Counts steps into its checkpoint; its first run never ends by itself (only the
    warning stops it); a later run returns at once. Each run notes where it started."""
    attempt = int(os.environ["CLUSTERLAB_ATTEMPT"])
    state = cl.checkpoint.load({"step": 0, "saved_on_signal": 0, "runs": []})
    state["runs"].append((attempt, state["step"]))
    cl.checkpoint.save(state)
    while attempt == 0:
        state["step"] += 1
        cl.checkpoint.save(state)
        time.sleep(0.5)
    return state["step"], state["saved_on_signal"], state["runs"]


def _saves_once_more() -> None:
    state = cl.checkpoint.load()
    state["saved_on_signal"] = state["step"]
    cl.checkpoint.save(state)


def test_a_time_limit_warning_requeues_and_the_job_resumes(sge: cl.Profile) -> None:
    f = cl.cluster(sge.name, time="00:00:40", requeue=True, on_signal=_saves_once_more)
    job = f(_counting).submit()
    try:
        step, saved, runs = job.result(timeout=200)
    finally:
        job.cancel()  # never left running, whatever failed
    script = job.job_script()
    assert "#$ -r y" in script and "#$ -l s_rt=0:00:20" in script
    assert step > 0 and saved == step  # the warning came; on_signal's save is what resumed
    assert runs == [(0, 0), (1, step)]  # two runs, the second from the checkpoint
    assert job.attempts == 2 and job.state == cl.JobState.COMPLETED
    assert [run["cause"] for run in job.history] == ["time limit warning", ""]
    (rec,) = [r for r in cl.jobs() if r.id == job.id]
    assert rec.attempt_text == "attempt 2 of 4" and rec.native_id == job.native_id  # one job


def test_requeue_needs_no_time_limit_but_then_is_only_rerunnable(sge: cl.Profile) -> None:
    job = cl.cluster(sge.name, requeue=True)(abs).submit(-3)
    try:
        assert job.result(timeout=120) == 3
    finally:
        job.cancel()
    script = job.job_script()
    assert "#$ -r y" in script and "s_rt" not in script
    assert job.attempts == 1
