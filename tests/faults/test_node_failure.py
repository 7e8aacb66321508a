"""retries= survives a real node failure (issue 26): the node a job runs on dies (every
process in its network namespace SIGKILLed); SLURM ends the job NODE_FAIL once it marks the
node DOWN (within SlurmdTimeout: 30 s in the sandbox, not the default 300 s), and clusterlab
submits it again, as the same Job, which returns (from the other node, or from this one if
it is back by then). The sandbox's `up` brings the node back. Kills a shared node: run
alone (the lead runs tests/faults)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from tests.cluster import nodes
from tests.cluster import sandbox as sb
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(420)]


def _first_run_waits(marker: str) -> str:
    """Its first run leaves ``marker`` and waits (for its node to die); a later one returns
    where it ran."""
    import socket
    import time

    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        time.sleep(600)
    return socket.gethostname()


def test_a_job_with_retries_runs_again_after_its_node_dies(sandbox: Any) -> None:
    if not getattr(sandbox, "slurmd_timeout_s", 0) or len(sandbox.node_names) < 2:
        pytest.fail("this sandbox has no namespace nodes with a short SlurmdTimeout: sandbox.py up")
    profile = ssh_profile(sandbox, name="nodefailretry")
    cl.profiles.save(profile)
    shared = Path(tempfile.mkdtemp(prefix="clusterlab-nodefail-"))
    shared.chmod(0o777)  # the job runs as the sandbox's user
    marker = shared / "first-run"
    # --no-requeue: as on a site with JobRequeue=0 (by default SLURM requeues a batch job
    # whose node failed by itself, which clusterlab shows as "requeued by the scheduler")
    f = cl.cluster(
        profile.name,
        partition=sandbox.multi_partition,
        retries=1,
        retry_backoff=0,
        extra=["--no-requeue"],
    )
    job = f(_first_run_waits).submit(str(marker))
    victim = None
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and job.host):
            assert time.monotonic() < deadline, f"the first run did not start: {job!r}"
            time.sleep(0.5)
        victim = next(n for n in nodes.node_list() if n.name == job.host)
        assert nodes.kill_node(victim)
        host = job.result(timeout=300)
        assert host in sandbox.node_names  # (the other node, or this one once it is back)
        assert [run["attempt"] for run in job.history] == [1, 2]
        assert "node it ran on failed" in job.history[0]["cause"]
        assert job.state == cl.JobState.COMPLETED
    finally:
        job.cancel()
        shutil.rmtree(shared, ignore_errors=True)
        if victim is not None:
            sb.up()
    assert sb.node_states()[victim.name] in sb.USABLE_STATES
