"""requeue=True on Kubernetes (the fake API server, tests/fakek8s): Kubernetes cannot
requeue a pod; a pod deleted for a drain or a preemption gets SIGTERM first. The runner
notes that it was stopped to run again, and the watcher submits the job again (a new Job
and pod of the same name, once the earlier ones are deleted) up to max_requeues; the job
returns once."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

from ..fakek8s import FakeKube
from .test_kubernetes import fake, profile, until

pytestmark = [pytest.mark.fakek8s, pytest.mark.timeout(300)]
__all__ = ["fake"]  # the fixture, used by name


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory the pods see (the test's tmp_path is hidden under the pods' emptyDir)."""
    path = Path(tempfile.mkdtemp(prefix="clusterlab-k8s-requeue-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _stopped_once(marker: str) -> tuple[str, bool]:
    """Its first run leaves ``marker`` and waits to be stopped; a later one returns."""
    import time

    first = not os.path.exists(marker)
    if first:
        with open(marker, "w"):
            pass
        time.sleep(300)
    return os.environ["CLUSTERLAB_ATTEMPT"], first


def test_a_deleted_pod_is_submitted_again_with_requeue(
    fake: FakeKube, tmp_path: Path, outside: Path
) -> None:
    p = profile(fake, tmp_path)
    marker = outside / "first-run"
    job = cl.cluster(p.name, requeue=True)(_stopped_once).submit(str(marker))
    try:
        until(lambda: marker.exists(), "the first run to start", timeout=120)
        pod = fake.objects("pods", "team-a")[0]["metadata"]["name"]
        api = get_runtime(p).backend.api  # type: ignore[attr-defined]
        api.request("DELETE", f"/api/v1/namespaces/team-a/pods/{pod}")  # SIGTERM, then gone
        value = job.result(timeout=200)
    finally:
        job.cancel()
    assert value[1] is False  # a second pod ran it again and returned
    assert job.state == cl.JobState.COMPLETED
