"""SLURM behaviour on the real sandbox, through both transports."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.core.discovery.cache import CHECK_ENV
from clusterlab.core.runtime import get_runtime
from tests.conftest import slurm_local_profile, slurm_state, ssh_profile

pytestmark = pytest.mark.timeout(240)


def _queued_ids(user: str | None = None) -> set[str]:
    argv = ["squeue", "--noheader", "--format=%i"] + (["--user", user] if user else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_impossible_request_is_refused_at_submit(
    slurm_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SLURM's own refusal, as where discovery is off or failed (test_discovery.py: ours)
    monkeypatch.setenv(CHECK_ENV, "0")
    before = _queued_ids()
    f = cl.cluster(slurm_profile.name, memory="100000GB")(abs)
    with pytest.raises(cl.SubmitError, match="no node can satisfy the request.*ask for less"):
        f.submit(1).result(timeout=60)  # the refusal reaches the job
    assert _queued_ids() - before == set()  # nothing left pending forever


def test_unknown_partition_is_explained(
    slurm_profile: cl.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHECK_ENV, "0")  # SLURM's refusal (discovery's: test_discovery.py)
    with pytest.raises(cl.SubmitError, match="the partition does not exist"):
        cl.cluster(slurm_profile.name, partition="nosuchpart")(abs).submit(1).result(timeout=60)


def test_tasks_are_an_allocation_the_function_runs_once_in(sandbox: object, tmp_path: Any) -> None:
    """tasks=2, launcher='none': the function runs once, as the batch step, and its srun
    starts two tasks (without launcher='none' clusterlab starts them: test_ranks.py).
    (qos and a GPU type cannot be shown here: without accounting SLURM ignores --qos and
    the sandbox has no GPU; test_slurm_script.py asserts how they are rendered.)"""
    profile = slurm_local_profile(tmp_path, name="tasks")
    cl.profiles.save(profile)
    marker = tmp_path / "runs"

    def _ranks(marker: str) -> tuple[str, list[str]]:  # nested: shipped by value
        import os
        import subprocess

        with open(marker, "a") as f:  # one line per run of the function itself
            f.write("ran\n")
        argv = ["srun", "sh", "-c", "echo $SLURM_PROCID"]
        started = subprocess.run(argv, capture_output=True, text=True, check=True)
        return os.environ["SLURM_NTASKS"], sorted(started.stdout.split())

    f = cl.cluster("tasks", tasks=2, cores=1, memory="100MB", launcher="none")(_ranks)
    job = f.submit(str(marker))
    assert job.result(timeout=120) == ("2", ["0", "1"])
    assert marker.read_text() == "ran\n"
    assert "\n#SBATCH --ntasks=2\n#SBATCH --cpus-per-task=1\n" in job.job_script()


def test_a_constraint_no_node_has_is_explained(slurm_profile: cl.Profile) -> None:
    before = _queued_ids()
    f = cl.cluster(slurm_profile.name, constraint="nosuchfeature")(abs)
    with pytest.raises(cl.SubmitError, match="no node has the features in constraint="):
        f.submit(1).result(timeout=60)
    assert _queued_ids() - before == set()


def test_pending_reason_is_a_sentence_and_pending_job_cancels(slurm_profile: cl.Profile) -> None:
    f = cl.cluster(slurm_profile.name, extra=["--begin=now+3600"])(abs)
    job = f.submit(1)
    deadline = time.time() + 30
    while "start time" not in job.reason and time.time() < deadline:
        time.sleep(0.2)
    assert job.state == cl.JobState.PENDING
    assert job.reason == "waiting for its requested start time"
    assert job.native_id in _queued_ids()
    assert job.cancel()
    assert job.state == cl.JobState.CANCELLED
    assert slurm_state(job.native_id) == "CANCELLED"


def test_job_runs_as_the_ssh_user_in_a_private_dir(sandbox: object) -> None:
    profile = ssh_profile(sandbox)
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(lambda: __import__("getpass").getuser()).submit()
    assert job.result(timeout=60) == sandbox.ssh_user  # type: ignore[attr-defined]
    runtime = get_runtime(profile)
    res = runtime.transport.run(["stat", "-c", "%a %U", job.job_dir])
    assert res.out.split() == ["700", sandbox.ssh_user]  # type: ignore[attr-defined]


def test_missing_python_on_the_node_is_explained(sandbox: object, tmp_path: object) -> None:
    profile = slurm_local_profile(tmp_path, python="/nonexistent/bin/python3")  # type: ignore[arg-type]
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(abs).submit(-1)
    with pytest.raises(cl.JobError, match="python command was not found"):
        job.result(timeout=60)
    assert job.state == cl.JobState.FAILED


def test_missing_remote_python_refused_at_submit(sandbox: object) -> None:
    profile = ssh_profile(sandbox, name="nopy", python="/nonexistent/bin/python3")
    cl.profiles.save(profile)
    job = cl.cluster("nopy")(abs).submit(1)  # a profile that cannot work: a FAILED job
    with pytest.raises(cl.RemoteEnvironmentError, match="could not run.*Set the profile's python"):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
    report = cl.profiles.check("nopy")
    assert not report.ok
    assert [ln.name for ln in report.lines if not ln.ok] == ["python"]


def test_missing_cloudpickle_says_what_to_install(sandbox: object) -> None:
    # Debian's own python3 on the cluster has no cloudpickle (the sandbox user has a venv).
    probe = subprocess.run(["/usr/bin/python3", "-c", "import cloudpickle"], capture_output=True)
    assert probe.returncode != 0, "this test needs a python3 without cloudpickle"
    profile = ssh_profile(sandbox, name="nocp", python="/usr/bin/python3")
    cl.profiles.save(profile)
    job = cl.cluster("nocp")(abs).submit(1)  # a profile that cannot work: a FAILED job
    with pytest.raises(
        cl.RemoteEnvironmentError,
        match=r"cloudpickle is not installed.*pip install --user cloudpickle",
    ):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
    lines = {ln.name: ln for ln in cl.profiles.check("nocp").lines}
    assert not lines["cloudpickle"].ok and lines["python"].ok


def test_check_reports_every_step_green(slurm_profile: cl.Profile) -> None:
    seen: list[str] = []
    report = cl.profiles.check(slurm_profile.name, on_line=lambda ln: seen.append(ln.name))
    assert report.ok, str(report)
    steps = ["scheduler", "job directory", "python", "cloudpickle", "packages", "ipykernel"]
    ssh = ["auth", "host key"] if slurm_profile.is_remote else []
    assert seen == ["connect", *ssh, *steps]
    scheduler = next(ln for ln in report.lines if ln.name == "scheduler")
    assert "slurm" in scheduler.detail and "sbatch" in scheduler.detail


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_time_limit_ends_as_timeout(sandbox: object) -> None:
    """SLURM enforces limits in whole minutes, checked every ~30 s: the one slow test."""
    profile = ssh_profile(sandbox, name="tl")
    cl.profiles.save(profile)
    job = cl.cluster("tl", time="1")(time.sleep).submit(600)
    with pytest.raises(cl.JobError, match="TIMEOUT: killed after reaching its time limit") as err:
        job.result(timeout=240)
    assert job.state == cl.JobState.TIMEOUT
    assert err.value.state == "TIMEOUT"
