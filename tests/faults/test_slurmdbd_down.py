"""slurmdbd stopped: SLURM keeps scheduling (slurmctld queues the accounting records) and
clusterlab's jobs still complete; `sacct` says the database is unreachable meanwhile, and
the records arrive once slurmdbd is back.

Why: accounting is a side service on real clusters and does go down; the product must not
depend on it to run or finish a job (only right-sizing and history read it).
Stops a shared daemon: run alone (the lead runs tests/faults).
"""

from __future__ import annotations

import subprocess
import time

import pytest

import clusterlab as cl
from tests.cluster import sandbox as sb
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(300)]


def _sacct(job: str) -> subprocess.CompletedProcess[str]:
    argv = ["sacct", "-n", "-P", "-X", "-j", job, "--format=JobID,State"]
    return subprocess.run(argv, capture_output=True, text=True, env=sb._slurm_env(), timeout=60)


def test_jobs_complete_while_slurmdbd_is_down(sandbox: object) -> None:
    if not getattr(sandbox, "accounting", False):
        pytest.fail("this sandbox has no accounting (sandbox version < 2): run sandbox.py up")
    acct = sb._accounting()
    profile = ssh_profile(sandbox, name="dbddown")
    cl.profiles.save(profile)
    acct.stop_slurmdbd()
    try:
        assert not acct.dbd_ok()
        jobs = [cl.cluster("dbddown")(pow).submit(i, 2) for i in range(3)]
        assert [j.result(timeout=120) for j in jobs] == [0, 1, 4]
        native = jobs[0].native_id
        down = _sacct(native)
        assert down.returncode != 0 or native not in down.stdout
    finally:
        acct.ensure_slurmdbd(sb._host())
    # slurmctld sends what it queued once slurmdbd is back.
    deadline = time.monotonic() + 120
    while True:
        row = _sacct(native).stdout
        if f"{native}|COMPLETED" in row:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"sacct never showed job {native} after slurmdbd came back")
        time.sleep(1)
