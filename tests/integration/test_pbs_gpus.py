"""The PBS GPU request on the fake PBS: a site whose GPU chunk resource is not PBS's own
``ngpus`` names it in the profile's ``pbs_gpu_resource``, and ``gpus=N`` reaches the
server as that resource (the fake, like a real server, refuses names its site does not
define, and lists its nodes' GPUs under the site's name: ``FAKEPBS_GPU_RESOURCE``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl

from .test_conformance import FAKEPBS_BIN

pytestmark = [pytest.mark.fakepbs, pytest.mark.timeout(180)]


@pytest.fixture
def pbs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "fakepbs"
    home.mkdir()
    monkeypatch.setenv("FAKEPBS_HOME", str(home))
    monkeypatch.setenv("FAKEPBS_FLAVOR", "pro")
    monkeypatch.setenv("FAKEPBS_GPU_RESOURCE", "gpu")  # this site calls its GPUs "gpu"
    monkeypatch.setenv("FAKEPBS_NGPUS", "4")
    monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
    yield tmp_path
    shutdown = [sys.executable, str(FAKEPBS_BIN / "fakepbs.py"), "_shutdown"]
    subprocess.run(shutdown, check=True, timeout=60)


def test_gpus_are_asked_for_by_the_sites_resource_name(pbs_home: Path) -> None:
    profile = cl.Profile(
        name="pbsgpu",
        scheduler="pbs",
        remote_dir=str(pbs_home / "jobs"),
        poll_interval=1,
        pbs_gpu_resource="gpu",
    )
    cl.profiles.save(profile)
    job = cl.cluster("pbsgpu", gpus=2)(abs).submit(-3)
    assert job.result(timeout=120) == 3  # the server took the request
    script = Path(job.job_dir, "job.sh").read_text()
    assert "#PBS -l select=1:ncpus=1:gpu=2" in script.splitlines()
