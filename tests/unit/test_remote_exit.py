"""A job that calls sys.exit() or is interrupted must not exit or interrupt the notebook
(review defect: SystemExit was re-raised as is, the CLI exited 3 with no message)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.common import jobdir
from clusterlab.core.transfer.payload import dumps_call, load_result
from clusterlab.remote import runner


def _remote_outcome(tmp_path: Path, fn: object) -> tuple[bool, object]:
    """Run ``fn()`` with the real runner in a scratch job dir; the kernel's view of it."""
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(fn, (), {}, {}))  # type: ignore[arg-type]
    for name in jobdir.RUNNER_FILES:  # the runner and its second file
        (tmp_path / name).write_bytes((Path(runner.__file__).parent / name).read_bytes())
    subprocess.run([sys.executable, jobdir.RUNNER, str(tmp_path)], cwd=tmp_path, check=False)
    return load_result((tmp_path / jobdir.RESULT).read_bytes())


def _raiser(exc: BaseException) -> object:
    def job() -> None:
        raise exc

    return job


@pytest.mark.parametrize(
    ("raised", "code", "words"),
    [
        (SystemExit(3), 3, "sys.exit(3)"),
        (SystemExit(), 0, "sys.exit(0)"),
        (SystemExit("bye"), 1, "(bye)"),
        (KeyboardInterrupt(), None, "interrupted"),
    ],
)
def test_exit_and_interrupt_become_a_catchable_error(
    tmp_path: Path, raised: BaseException, code: int | None, words: str
) -> None:
    ok, exc = _remote_outcome(tmp_path, _raiser(raised))
    assert not ok
    assert isinstance(exc, cl.RemoteError) and isinstance(exc, Exception)
    assert exc.exit_code == code and words in str(exc)
    assert isinstance(exc.__cause__, cl.RemoteTraceback)


def test_a_job_exiting_through_the_api_raises_remote_error() -> None:
    def leave() -> None:
        sys.exit(4)

    with pytest.raises(cl.RemoteError, match=r"sys\.exit\(4\)") as info:
        cl.cluster("local")(leave).submit().result(timeout=60)
    assert info.value.exit_code == 4


def test_a_job_dir_deleted_while_the_runner_starts_is_not_recreated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job dir is deleted right after the runner said "started" (the window of
    tests/faults/test_daemons.py's deleted-directory test). The runner created work/ with
    makedirs, which made the job dir again: the poll then saw a dir without status and
    the job ended "exited with an error" about 1 run in 7, instead of "its job directory
    is gone". Now nothing is recreated and the runner stops."""
    import shutil

    job_dir = tmp_path / "jobs" / "j1"
    job_dir.mkdir(parents=True)
    monkeypatch.delenv(runner.WORKDIR_VAR, raising=False)
    real = runner._Job.status

    def then_deleted(self: Any, event: str, **fields: Any) -> None:
        real(self, event, **fields)
        if event == "started":
            shutil.rmtree(job_dir)

    monkeypatch.setattr(runner._Job, "status", then_deleted)
    monkeypatch.chdir(tmp_path)
    assert runner.main(str(job_dir)) == runner.JOB_DIR_GONE
    assert not job_dir.exists()
