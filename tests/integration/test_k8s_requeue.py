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


def _killed_once(marker: str) -> tuple[str, str]:
    """Its first run prints and dies of SIGKILL (outside its function's control); a later
    run prints, takes a few seconds (so the kernel polls it while it runs) and returns."""
    import signal
    import time

    print("run", os.environ["CLUSTERLAB_ATTEMPT"], flush=True)
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(4)
    return os.environ["CLUSTERLAB_ATTEMPT"], "done"


def test_a_retried_pod_continues_the_earlier_runs_files(
    fake: FakeKube, tmp_path: Path, outside: Path
) -> None:
    """The new pod of a job submitted again starts with the earlier run's status and
    output: the job is not taken for ended by the earlier run's exit (its new Job was
    deleted on sight and the job ended LOST), it counts its attempts on, and its output
    holds both runs."""
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name, retries=1, retry_backoff=0)(_killed_once).submit(
        str(outside / "first-run")
    )
    try:
        value = job.result(timeout=200)
    finally:
        job.cancel()
    assert value == ("1", "done")  # CLUSTERLAB_ATTEMPT counts from 0
    assert [run["attempt"] for run in job.history] == [1, 2]
    assert job.stdout().splitlines() == ["run 0", "run 1"]
