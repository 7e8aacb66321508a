"""retries= and retry_on=: the function's own transient errors are rerun where it runs,
with a doubling wait, each run in job.history; other errors are not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest

import clusterlab as cl
from clusterlab.common import jobdir
from clusterlab.core.ledger import store as ledger
from clusterlab.core.model.alive import live
from clusterlab.core.submission import plans

pytestmark = pytest.mark.timeout(240)


def _flaky(failures: int) -> tuple[int, str]:
    """Fails ``failures`` times (counted in its checkpoint, which survives a rerun)."""
    tries = cl.checkpoint.load(0)
    cl.checkpoint.save(tries + 1)
    if tries < failures:
        raise ConnectionResetError(f"flaky server, try {tries + 1}")
    return tries, os.environ["CLUSTERLAB_ATTEMPT"]


def test_a_transient_error_is_retried_until_it_passes(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name, memory="100MB", retries=3, retry_on=OSError, retry_backoff=0.1)
    job = f(_flaky).submit(2)
    assert job.result(timeout=180) == (2, "2")  # the third run passed; attempt counts from 0
    assert job.attempts == 3
    causes = [run["cause"] for run in job.history]
    assert causes == [
        "raised ConnectionResetError: flaky server, try 1",
        "raised ConnectionResetError: flaky server, try 2",
        "",
    ]
    assert [run["attempt"] for run in job.history] == [1, 2, 3]


def test_retries_run_out_and_the_last_error_is_raised(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name, memory="100MB", retries=1, retry_on=OSError, retry_backoff=0)
    job = f(_flaky).submit(5)
    with pytest.raises(ConnectionResetError, match="try 2"):
        job.result(timeout=180)
    assert job.attempts == 2


def test_an_error_not_in_retry_on_is_not_retried(any_profile: cl.Profile) -> None:
    f = cl.cluster(any_profile.name, memory="100MB", retries=3, retry_on=(KeyError, TimeoutError))
    job = f(_flaky).submit(1)
    with pytest.raises(ConnectionResetError, match="try 1"):
        job.result(timeout=180)
    assert job.attempts == 1 and job.history[0]["cause"] == ""


def test_each_attempt_is_in_the_ledger_and_the_cli(
    any_profile: cl.Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    from clusterlab.ui.cli import main

    f = cl.cluster(any_profile.name, memory="100MB", retries=3, retry_on=OSError, retry_backoff=0)
    job = f(_flaky).submit(1)
    assert job.result(timeout=180) == (1, "1")
    (rec,) = [r for r in cl.jobs() if r.id == job.id]  # what another process reads
    assert rec.attempts == 2 and rec.attempt_text == "attempt 2 of 4"
    assert rec.history["runs"][0]["cause"] == "raised ConnectionResetError: flaky server, try 1"
    capsys.readouterr()
    assert main(["status", job.id]) == 0
    out = capsys.readouterr().out
    assert "attempt 2 of 4" in out
    assert "raised ConnectionResetError: flaky server, try 1" in out


def _killed_once() -> tuple[str, object]:
    """Its first run waits to be killed (the test kills its process with -9)."""
    import time

    attempt = os.environ["CLUSTERLAB_ATTEMPT"]
    if attempt == "0":
        cl.checkpoint.save("before the kill")
        time.sleep(300)
    return attempt, cl.checkpoint.load()


def _kill_first_run(job: cl.Job) -> None:
    """SIGKILL to the runner of the job's first run (its pid from its status file, once
    it saved its checkpoint), as the OOM killer or an administrator would."""
    import json
    import signal
    import time

    from clusterlab.common import jobdir

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if job.job_dir and os.path.exists(os.path.join(job.job_dir, jobdir.CHECKPOINT)):
            break
        time.sleep(0.2)
    with open(os.path.join(job.job_dir, jobdir.STATUS)) as fh:
        started = [json.loads(line) for line in fh if '"started"' in line]
    os.kill(int(started[0]["pid"]), signal.SIGKILL)


def test_a_job_killed_from_outside_is_submitted_again(any_profile: cl.Profile) -> None:
    """retries= without retry_on: the process killed -9 is a failure outside the
    function; the same Job runs again and resumes from its checkpoint."""
    f = cl.cluster(any_profile.name, memory="100MB", retries=2, retry_backoff=0.5)
    job = f(_killed_once).submit()
    try:
        _kill_first_run(job)
        assert job.result(timeout=180) == ("1", "before the kill")
    finally:
        job.cancel()
    assert job.attempts == 2
    assert str(job.history[0]["cause"]).startswith("rerun after: killed with SIGKILL")
    (rec,) = [r for r in cl.jobs() if r.id == job.id]
    assert rec.attempt_text == "attempt 2 of 3" and rec.state == "COMPLETED"


def test_without_retries_a_killed_job_fails(any_profile: cl.Profile) -> None:
    job = cl.cluster(any_profile.name, memory="100MB")(_killed_once).submit()
    try:
        _kill_first_run(job)
        with pytest.raises(cl.JobError, match="killed with SIGKILL"):
            job.result(timeout=180)
    finally:
        job.cancel()
    assert job.attempts == 1


def _status_events(job_dir: str) -> list[str]:
    try:
        with open(os.path.join(job_dir, jobdir.STATUS)) as fh:
            return [json.loads(line).get("event", "") for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def _kernel_that_submitted(script: str) -> tuple[subprocess.Popen[str], str, float]:
    """Another kernel (``script`` prints its job's id first), once its job is in the
    ledger with a scheduler id; with the deadline the caller's waits go on from."""
    kernel = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert kernel.stdout is not None
    job_id = json.loads(kernel.stdout.readline())
    deadline = time.monotonic() + 120
    while not (ledger.get(job_id) or SimpleNamespace(native_id="")).native_id:
        assert time.monotonic() < deadline, "the first kernel never submitted the job"
        time.sleep(0.2)
    return kernel, job_id, deadline


def test_a_job_reattached_after_a_kernel_restart_is_submitted_again(
    any_profile: cl.Profile,
) -> None:
    """The kernel that submitted a retries= job dies; the job's run is then killed -9; a
    new kernel (this process) reattaches to it after that failure and, as the first
    kernel would have, submits it again: it resumes from its checkpoint, one result."""
    script = textwrap.dedent(
        f"""
        import json, time
        import clusterlab as cl
        from tests.integration.test_retries import _killed_once
        f = cl.cluster({any_profile.name!r}, memory="100MB", retries=1, retry_backoff=0.5)
        job = f(_killed_once).submit()
        print(json.dumps(job.id), flush=True)
        time.sleep(600)
        """
    )
    kernel, job_id, deadline = _kernel_that_submitted(script)
    rec = ledger.get(job_id)
    assert rec is not None
    try:
        _kill_first_run(SimpleNamespace(job_dir=rec.job_dir))  # type: ignore[arg-type]
        kernel.send_signal(signal.SIGKILL)  # the kernel is gone before anyone sees the end
        kernel.wait()
        while "exit" not in _status_events(rec.job_dir):  # the job script saw the kill
            assert time.monotonic() < deadline + 60, "the killed run never ended"
            time.sleep(0.2)
        assert job_id not in live
        job = cl.job(job_id)  # a new kernel reattaches after the failure
        assert isinstance(job, cl.Job)
        assert job.result(timeout=180) == ("1", "before the kill")
    finally:
        kernel.kill()
        cl.job(job_id).cancel()
    assert job.attempts == 2
    assert str(job.history[0]["cause"]).startswith("rerun after: killed with SIGKILL")
    (rec,) = [r for r in cl.jobs() if r.id == job_id]
    assert rec.attempt_text == "attempt 2 of 2" and rec.state == "COMPLETED"
    assert plans.load(job_id) is None  # its rerun plan is forgotten once it ended for good


def test_two_kernels_watching_a_killed_job_submit_it_again_once(any_profile: cl.Profile) -> None:
    """The submitting kernel lives on while another reattached to the same job: both see
    its run killed -9; one submits it again, the other follows the new submission, and
    both get the one result of the job's second (and last) run."""
    script = textwrap.dedent(
        f"""
        import json
        import clusterlab as cl
        from tests.integration.test_retries import _killed_once
        f = cl.cluster({any_profile.name!r}, memory="100MB", retries=2, retry_backoff=0.5)
        job = f(_killed_once).submit()
        print(json.dumps(job.id), flush=True)
        print(json.dumps([job.result(timeout=180), job.attempts]), flush=True)
        """
    )
    kernel, job_id, _ = _kernel_that_submitted(script)
    try:
        job = cl.job(job_id)  # this kernel watches it too
        assert isinstance(job, cl.Job)
        _kill_first_run(job)
        assert job.result(timeout=180) == ("1", "before the kill")
        theirs = json.loads(kernel.stdout.readline())
    finally:
        kernel.kill()
        cl.job(job_id).cancel()
    assert theirs == [["1", "before the kill"], 2]
    assert job.attempts == 2
    assert _status_events(job.job_dir).count("started") == 2  # submitted again once
