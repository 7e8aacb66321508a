"""Job dirs no other user can tamper with (review defect: ``remote_dir`` ownership and
modes were never checked, so with a parent writable by others another user could swap a
job dir and the kernel would unpickle their file). Like OpenSSH's StrictModes, every
directory from the jobs root up must be owned by the user or root and not writable by
others (sticky directories such as /tmp excepted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime


def _refused(profile: cl.Profile, words: str) -> None:
    """Nothing is submitted: the Job is FAILED with the sentence (issue 25: a submission
    the user can fix gives a FAILED Job and its row, not a traceback from submit())."""
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(abs).submit(-1)
    with pytest.raises(cl.RemoteEnvironmentError, match=words):
        job.result(timeout=30)
    assert job.state == cl.JobState.FAILED and job.reason.startswith("not submitted: ")
    assert [r.state for r in cl.jobs()] == ["FAILED"]


def test_a_parent_writable_by_others_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone may rename what is inside
    _refused(
        cl.Profile(name="ww", scheduler="local", remote_dir=str(shared / "cl")),
        rf"{shared} is writable by other users \(mode 777\).*chmod go-w",
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_a_parent_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)  # nobody
    _refused(
        cl.Profile(name="ow", scheduler="local", remote_dir=str(theirs / "cl")),
        rf"{theirs} is owned by another user \(uid 65534\)",
    )


def test_a_sticky_shared_directory_is_fine_and_job_dirs_are_private(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch.chmod(0o1777)  # like /tmp
    cl.profiles.save(cl.Profile(name="st", scheduler="local", remote_dir=str(scratch / "cl")))
    job = cl.cluster("st")(abs).submit(-2)
    assert job.result(timeout=60) == 2
    assert (scratch / "cl" / "jobs").stat().st_mode & 0o777 == 0o700
    assert Path(job.job_dir).stat().st_mode & 0o777 == 0o700
    for name in ("stdout", "stderr", "status", "result.pkl"):  # stdout/stderr were 0644
        assert (Path(job.job_dir) / name).stat().st_mode & 0o777 == 0o600, name
    report = cl.profiles.check("st")
    line = next(ln for ln in report.lines if ln.name == "job directory")
    assert line.ok and "private" in line.detail


@pytest.mark.sandbox
def test_over_ssh_a_world_writable_parent_is_refused(sandbox: object) -> None:
    from tests.conftest import ssh_profile

    profile = ssh_profile(sandbox, name="sshww")
    transport = get_runtime(profile).transport
    shared = f"{transport.home()}/ww-{os.getpid()}"
    res = transport.run(["sh", "-c", 'mkdir -p "$1" && chmod 777 "$1"', "sh", shared])
    assert res.returncode == 0, res.err
    try:
        _refused(profile.replace(remote_dir=f"{shared}/cl"), "writable by other users")
        report = cl.profiles.check(profile.replace(remote_dir=f"{shared}/cl"))
        line = next(ln for ln in report.lines if ln.name == "job directory")
        assert not line.ok and "writable by other users" in line.detail
    finally:
        transport.run(["rm", "-rf", "--", shared])
