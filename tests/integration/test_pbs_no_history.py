"""PBS Professional without job history (``job_history_enable`` off, the default): a
finished job vanishes from ``qstat``. A dependent that PBS deleted because its dependency
failed vanishes too, before it ever ran: it must end with the dependency's failure, not as
LOST with the generic sentence (issue 29, finding 15)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl

from .test_conformance import FAKEPBS_BIN

pytestmark = [pytest.mark.fakepbs, pytest.mark.timeout(300)]


@pytest.fixture
def pbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[cl.Profile]:
    home = tmp_path / "fakepbs"
    home.mkdir()
    monkeypatch.setenv("FAKEPBS_HOME", str(home))
    monkeypatch.setenv("FAKEPBS_KILL_DELAY", "1")
    monkeypatch.setenv("FAKEPBS_FLAVOR", "pro")
    monkeypatch.setenv("FAKEPBS_HISTORY", "0")
    monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "2")
    profile = cl.Profile(
        name="pbsnohist", scheduler="pbs", remote_dir=str(tmp_path / "pbsjobs"), poll_interval=1
    )
    cl.profiles.save(profile)
    yield profile
    fake = [sys.executable, str(FAKEPBS_BIN / "fakepbs.py"), "_shutdown"]
    subprocess.run(fake, check=True, timeout=60)


def test_a_dependent_deleted_for_a_failed_dependency_says_so(
    pbs: cl.Profile, tmp_path: Path
) -> None:
    go = tmp_path / "go"

    def boom(flag: str) -> None:
        for _ in range(600):
            if os.path.exists(flag):
                break
            time.sleep(0.1)
        raise RuntimeError("prep failed")

    prep = cl.cluster(pbs.name)(boom).submit(str(go))
    dependent = cl.cluster(pbs.name)(abs).submit(-1, after=[prep])
    go.touch()
    with pytest.raises(concurrent.futures.CancelledError):
        dependent.result(timeout=180)
    assert dependent.state == cl.JobState.CANCELLED, dependent.reason
    assert f"dependency failed: job {prep.id} (boom) ended FAILED" in dependent.reason
