"""The client dies around submission (review defect: the ledger row was written only after
the scheduler accepted the job, so a crash in between left running jobs nobody could see).
Now the row is written first (SUBMITTING) and settled by the next kernel: a job the
scheduler accepted is found and watched, one it never saw is FAILED, saying nothing ran."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.ledger import store as ledger
from tests.conftest import slurm_local_profile

pytestmark = pytest.mark.sandbox


def _shim(tmp_path: Path, body: str) -> Path:
    """An ``sbatch`` first on PATH that wraps the real one."""
    shims = tmp_path / "shims"
    shims.mkdir()
    real = subprocess.run(["sh", "-c", "command -v sbatch"], capture_output=True, text=True)
    sbatch = shims / "sbatch"
    sbatch.write_text(f"#!/bin/sh\n{body.replace('REAL', real.stdout.strip())}\n")
    sbatch.chmod(0o755)
    return shims


def _client(shims: Path) -> subprocess.Popen[bytes]:
    script = textwrap.dedent(
        """
        import clusterlab as cl
        cl.cluster("sblocal")(abs).submit(-3)
        """
    )
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)


def _intent(timeout: float = 60) -> ledger.JobRecord:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = ledger.query(state="SUBMITTING")
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError("no SUBMITTING row appeared")


def test_killed_right_after_the_scheduler_accepted_the_job(sandbox: object, tmp_path: Path) -> None:
    cl.profiles.save(slurm_local_profile(tmp_path))
    accepted = tmp_path / "accepted"
    shims = _shim(tmp_path, f'REAL "$@"; code=$?; touch {accepted}; sleep 3; exit $code')
    client = _client(shims)
    intent = _intent()
    deadline = time.time() + 60
    while not accepted.exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(client.pid, signal.SIGKILL)  # the kernel dies; the submit command finishes
    client.wait(timeout=30)
    time.sleep(4)  # the shim's sleep: the scheduler's answer reaches the job dir
    rows = {r.id: r for r in cl.jobs()}  # a new kernel lists the ledger: the row settles
    assert rows[intent.id].state in ("PENDING", "RUNNING", "COMPLETED"), rows[intent.id]
    assert rows[intent.id].native_id.isdigit()
    job = cl.job(intent.id)
    assert isinstance(job, cl.Job)
    assert job.result(timeout=120) == 3  # not lost, and run exactly once


def test_killed_before_the_scheduler_saw_the_job(sandbox: object, tmp_path: Path) -> None:
    cl.profiles.save(slurm_local_profile(tmp_path))
    shims = _shim(tmp_path, 'sleep 30; exec REAL "$@"')
    client = _client(shims)
    intent = _intent()
    time.sleep(1)
    os.killpg(client.pid, signal.SIGKILL)  # the kernel and its submit command die
    client.wait(timeout=30)
    row = next(r for r in cl.jobs() if r.id == intent.id)
    assert row.state == "FAILED" and "nothing ran" in row.reason, row
    with pytest.raises(cl.JobError, match="nothing ran"):
        cl.job(intent.id).result(timeout=10)  # type: ignore[union-attr]
