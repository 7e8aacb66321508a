"""A namespace node dies (every process in it SIGKILLed: slurmd, slurmstepd, the job):
SLURM marks it DOWN within SlurmdTimeout and ends its job NODE_FAIL; the sandbox's `up`
brings the node back.

Why: node failure is what `retries` must survive (issue 26); this checks that the sandbox
can produce a real one in about a minute (SlurmdTimeout 30 s, not the default 300 s) and
recover from it. Kills a shared node: run alone (the lead runs tests/faults).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.cluster import nodes
from tests.cluster import sandbox as sb

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(300)]


def _squeue(job: str, fmt: str) -> str:
    argv = ["squeue", "-h", "--states=all", "-j", job, "-o", fmt]
    return subprocess.run(argv, capture_output=True, text=True, env=sb._slurm_env()).stdout.strip()


def _until(what: str, probe: object, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def test_a_killed_node_fails_its_job_and_up_brings_it_back(sandbox: object) -> None:
    if not getattr(sandbox, "slurmd_timeout_s", 0):
        pytest.fail("this sandbox has no short SlurmdTimeout (version < 5): run sandbox.py up")
    victim = next(n for n in nodes.node_list() if n.name == sandbox.node_names[-1])  # type: ignore[attr-defined]
    part = sandbox.multi_partition  # type: ignore[attr-defined]
    argv = ["sbatch", "--parsable", "-p", part, "-w", victim.name, "--no-requeue"]
    argv += ["-o", "/dev/null", "--chdir=/tmp", "--wrap", "sleep 600"]
    job = subprocess.run(
        argv, capture_output=True, text=True, check=True, env=sb._slurm_env()
    ).stdout.strip()
    try:
        _until("the job to run", lambda: _squeue(job, "%T") == "RUNNING", timeout=60)
        assert nodes.kill_node(victim)
        _until("the job to end NODE_FAIL", lambda: _squeue(job, "%T") == "NODE_FAIL")
        assert sb.node_states().get(victim.name, "").startswith("down")
    finally:
        subprocess.run(["scancel", job], env=sb._slurm_env(), check=False)
        sb.up()
    assert sb.node_states()[victim.name] in sb.USABLE_STATES
