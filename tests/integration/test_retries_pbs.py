"""retries= and retry_on= against the named fakes: PBS (fakepbs runs each job's script as
a real process: a job killed from outside is submitted again and resumes; a flaky function
is rerun by its runner) and Kubernetes (the runner reruns the function in its pod)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl

from ..fakek8s import FakeKube, unshare_works
from .test_conformance import FAKEPBS_BIN
from .test_kubernetes import profile as k8s_profile
from .test_retries import _flaky, _kill_first_run, _killed_once

pytestmark = [pytest.mark.fakepbs, pytest.mark.timeout(300)]


@pytest.fixture
def pbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[cl.Profile]:
    home = tmp_path / "fakepbs"
    home.mkdir()
    monkeypatch.setenv("FAKEPBS_HOME", str(home))
    monkeypatch.setenv("FAKEPBS_KILL_DELAY", "1")
    monkeypatch.setenv("FAKEPBS_FLAVOR", "pro")
    monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
    profile = cl.Profile(
        name="pbsretry", scheduler="pbs", remote_dir=str(tmp_path / "pbsjobs"), poll_interval=1
    )
    cl.profiles.save(profile)
    yield profile
    shutdown = [sys.executable, str(FAKEPBS_BIN / "fakepbs.py"), "_shutdown"]
    subprocess.run(shutdown, check=True, timeout=60)


def test_a_killed_pbs_job_is_submitted_again_and_resumes(pbs: cl.Profile) -> None:
    job = cl.cluster(pbs.name, retries=1, retry_backoff=0.5)(_killed_once).submit()
    try:
        _kill_first_run(job)
        assert job.result(timeout=200) == ("1", "before the kill")
    finally:
        job.cancel()
    assert job.attempts == 2


def test_a_flaky_function_is_rerun_on_pbs(pbs: cl.Profile) -> None:
    f = cl.cluster(pbs.name, retries=2, retry_on=OSError, retry_backoff=0)
    job = f(_flaky).submit(2)
    assert job.result(timeout=200) == (2, "2") and job.attempts == 3


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKube]:
    problem = unshare_works()
    if problem:
        pytest.skip(f"fakek8s gives each pod private mounts and cannot here: {problem}")
    server = FakeKube(tmp_path / "fakek8s")
    yield server
    server.stop()


def test_a_flaky_function_is_rerun_on_kubernetes(kube: FakeKube, tmp_path: Path) -> None:
    """The Kubernetes fake: the runner reruns the function inside its pod (retry_on)."""
    p = k8s_profile(kube, tmp_path)
    f = cl.cluster(p.name, retries=2, retry_on=OSError, retry_backoff=0)
    job = f(_flaky).submit(1)
    assert job.result(timeout=200) == (1, "1") and job.attempts == 2
