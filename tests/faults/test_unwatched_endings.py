"""Jobs that end while no kernel watches them (killed for memory, cancelled outside
clusterlab, over the time limit) are settled with the right state and sentence when a
kernel reattaches, not LOST (review defect: they ended LOST with a generic reason).

The submitting process exits as soon as its job runs; the job is then killed or limited
with nobody watching, and a fresh ``cl.job(id)`` in this process settles it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime


def _submit_elsewhere(profile: str, body: str, **resources: object) -> str:
    """Submit ``body`` (the function's source) from another process; return the job id
    once the job runs. That process then exits: nobody watches the job any more."""
    script = textwrap.dedent(
        f"""
        import os, signal, time, clusterlab as cl
        {textwrap.indent(textwrap.dedent(body), "        ").strip()}
        job = cl.cluster({profile!r}, **{resources!r})(work).submit()
        deadline = time.time() + 90
        while job.state != cl.JobState.RUNNING and time.time() < deadline:
            time.sleep(0.1)
        print(job.id, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=180
    )
    return out.stdout.strip().splitlines()[-1]


def _runner_pid(job: cl.Job) -> int:
    status = get_runtime(cl.profiles.load(job.profile)).read_log(job, "status")
    return int(next(json.loads(ln)["pid"] for ln in status.splitlines() if '"started"' in ln))


def _settled(job_id: str, timeout: float = 120) -> cl.Job:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = cl.job(job_id)
        assert isinstance(job, cl.Job)
        if job.done():
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} did not settle")


KILLED_FOR_MEMORY = """
def work():
    time.sleep(1)
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
"""

SLEEPER = """
def work():
    time.sleep(300)
"""


@pytest.mark.parametrize("any_profile", ["local", "slurm-ssh"], indirect=True)
def test_killed_for_memory_while_unwatched(any_profile: cl.Profile) -> None:
    job_id = _submit_elsewhere(any_profile.name, KILLED_FOR_MEMORY)
    job = _settled(job_id)
    assert job.state == cl.JobState.FAILED, (job.state, job.reason)
    assert "SIGKILL" in job.reason and "memory" in job.reason
    with pytest.raises(cl.JobError, match="SIGKILL"):
        job.result(timeout=5)


@pytest.mark.parametrize("any_profile", ["local", "slurm-ssh"], indirect=True)
def test_cancelled_outside_clusterlab_while_unwatched(any_profile: cl.Profile) -> None:
    job_id = _submit_elsewhere(any_profile.name, SLEEPER)
    first = cl.job(job_id)
    assert isinstance(first, cl.Job)
    if any_profile.scheduler == "local":
        os.kill(_runner_pid(first), signal.SIGTERM)  # `kill PID` from a terminal
    else:
        res = get_runtime(any_profile).transport.run(["scancel", first.native_id])
        assert res.returncode == 0, res.err
    job = _settled(job_id)
    assert job.state == cl.JobState.CANCELLED, (job.state, job.reason)
    assert job.state != cl.JobState.LOST


def test_local_time_limit_holds_after_the_kernel_exits() -> None:
    """Review defect: a local job's time limit stopped applying once its kernel exited."""
    cl.profiles.save(cl.Profile(name="lim", scheduler="local"))
    job_id = _submit_elsewhere("lim", SLEEPER, time="00:00:03")
    job = _settled(job_id, timeout=60)
    assert job.state == cl.JobState.TIMEOUT, (job.state, job.reason)
    assert "time limit (00:00:03)" in job.reason
