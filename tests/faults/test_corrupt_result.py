"""A result file that is not what the runner wrote (truncated by a full disk or a cut
transfer, or replaced by someone else) is refused by its checksum, never unpickled: the
runner records each result's sha256 in its status line and the kernel compares."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import clusterlab as cl


def _finished_unwatched(profile: str) -> cl.Job:
    """A job that finished while no kernel watched it (its submitter exited)."""
    script = textwrap.dedent(
        f"""
        import time, clusterlab as cl
        job = cl.cluster({profile!r})(lambda: {{"answer": 42}}).submit()
        deadline = time.time() + 60
        while job.state in (cl.JobState.SUBMITTING, cl.JobState.PENDING) and time.time() < deadline:
            time.sleep(0.05)
        print(job.id, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    job_id = out.stdout.split()[-1]
    job_dir = Path(cl.jobs()[0].job_dir)
    deadline = time.time() + 60
    status = job_dir / "status"  # written by the runner a moment after the job started
    while time.time() < deadline and not (status.exists() and b'"finished"' in status.read_bytes()):
        time.sleep(0.1)
    return job_id  # type: ignore[return-value]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: pickle.dumps(("ok", {"answer": "planted"})),  # replaced
    ],
    ids=["truncated", "replaced"],
)
def test_a_result_that_does_not_match_its_checksum_is_refused(tamper: object) -> None:
    cl.profiles.save(cl.Profile(name="cs", scheduler="local", poll_interval=0.5))
    job_id = _finished_unwatched("cs")
    result = Path(cl.jobs()[0].job_dir) / "result.pkl"
    result.write_bytes(tamper(result.read_bytes()))  # type: ignore[operator]
    job = cl.job(job_id)
    with pytest.raises(cl.JobError, match="does not match the checksum"):
        job.result(timeout=60)
    assert job.state == cl.JobState.FAILED


def test_an_intact_result_still_loads() -> None:
    cl.profiles.save(cl.Profile(name="cs", scheduler="local", poll_interval=0.5))
    job_id = _finished_unwatched("cs")
    assert cl.job(job_id).result(timeout=60) == {"answer": 42}
