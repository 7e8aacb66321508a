"""requeue=True on the real SLURM sandbox: a job warned of its time limit saves, is
requeued by its runner (no kernel involved), resumes from its checkpoint in its next run,
and its result arrives once. SLURM's time limit counts in minutes and --signal is sent up
to a minute early, so this is the one test that waits for a warning."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import clusterlab as cl
from tests.conftest import slurm_local_profile

pytestmark = pytest.mark.timeout(420)


def _long_training(marker: str) -> tuple[int, int, int]:
    """Counts steps into its checkpoint; its first run never ends by itself (only the
    warning stops it); a later run finishes at once."""
    attempt = int(os.environ["CLUSTERLAB_ATTEMPT"])
    state = cl.checkpoint.load({"step": 0, "saved_on_signal": 0})
    with open(marker, "a") as fh:
        fh.write(f"run {attempt} from step {state['step']}\n")
    while attempt == 0:
        # on_signal saves too (in this process, between two of these steps; the run goes
        # on until SLURM stops it): start each step from the checkpoint, not a stale copy
        state = cl.checkpoint.load(state)
        state["step"] += 1
        cl.checkpoint.save(state)
        time.sleep(0.5)
    return state["step"], state["saved_on_signal"], attempt


def _saves_once_more() -> None:
    state = cl.checkpoint.load()
    state["saved_on_signal"] = state["step"]
    cl.checkpoint.save(state)


def test_a_time_limit_warning_requeues_and_the_job_resumes(sandbox: object, tmp_path: Path) -> None:
    cl.profiles.save(slurm_local_profile(tmp_path, name="requeue"))
    marker = tmp_path / "runs"
    f = cl.cluster(
        "requeue", time="00:02:00", memory="100MB", requeue=True, on_signal=_saves_once_more
    )(_long_training)
    job = f.submit(str(marker))
    try:
        step, saved, attempt = job.result(timeout=400)
    finally:
        job.cancel()  # never left running, whatever failed
    assert "#SBATCH --requeue" in job.job_script()
    assert "#SBATCH --signal=B:USR2@60" in job.job_script()
    # on_signal saved, and the next run resumed from the checkpoint (where the first run's
    # steps after the warning, until SLURM stopped it, left it)
    assert attempt == 1 and saved > 0 and step >= saved
    runs = marker.read_text().splitlines()
    assert runs == ["run 0 from step 0", f"run 1 from step {step}"]
    assert job.attempts == 2 and job.state == cl.JobState.COMPLETED
    assert [run["cause"] for run in job.history] == ["time limit warning", ""]
    native = job.native_id
    (rec,) = [r for r in cl.jobs() if r.id == job.id]
    assert rec.attempt_text == "attempt 2 of 4" and rec.native_id == native  # one job
