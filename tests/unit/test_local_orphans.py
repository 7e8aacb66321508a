"""A local job whose kernel died between starting the job's shell and the runner's first
status line: other kernels (the panel's, after a restart) must see it running, not LOST.
(tests/unit/test_comm.py's kernel-gone test hit this window now and then and settled LOST.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from clusterlab.backends.base import WatchTarget
from clusterlab.backends.local import LocalBackend
from clusterlab.backends.local_orphans import LAUNCHED
from clusterlab.common.states import JobState
from clusterlab.config.profile import Profile
from clusterlab.transports.local import LocalTransport

DEAD_OWNER = "999999999.1"  # a local native id whose submitting process does not exist


def backend() -> LocalBackend:
    return LocalBackend(Profile(name="local", scheduler="local"), LocalTransport())


def start_shell(job_dir: Path) -> subprocess.Popen[bytes]:
    """The job's shell as the local backend starts it, still before the runner's status."""
    (job_dir / "job.sh").write_text("sleep 30\n")
    return subprocess.Popen(["/bin/sh", "job.sh"], cwd=job_dir, start_new_session=True)


def test_a_started_job_without_status_of_a_dead_kernel_is_running(tmp_path: Path) -> None:
    shell = start_shell(tmp_path)
    try:
        target = WatchTarget(DEAD_OWNER, str(tmp_path))
        assert backend().poll([target])[DEAD_OWNER].state == JobState.LOST  # no sign of life
        (tmp_path / LAUNCHED).write_text(str(shell.pid))
        assert backend().poll([target])[DEAD_OWNER].state == JobState.RUNNING
    finally:
        shell.kill()
        shell.wait()
    # the shell is gone and the runner never wrote a line: nothing will ever end it
    assert backend().poll([target])[DEAD_OWNER].state == JobState.LOST


def test_an_array_task_started_without_status_of_a_dead_kernel_is_running(tmp_path: Path) -> None:
    shell = start_shell(tmp_path)
    try:
        (tmp_path / f"{LAUNCHED}.1").write_text(str(shell.pid))
        seen = backend().poll([WatchTarget(DEAD_OWNER, str(tmp_path), True)])[DEAD_OWNER]
        assert seen.tasks[1].state == JobState.RUNNING
        assert seen.unlisted_task().state == JobState.LOST  # task 0 never started
    finally:
        shell.kill()
        shell.wait()


def test_the_local_backend_records_the_shell_it_starts(tmp_path: Path) -> None:
    import clusterlab as cl

    job = cl.cluster("local")(sum).submit([1, 2])
    assert job.result(timeout=60) == 3
    launched = Path(job.job_dir) / LAUNCHED
    assert launched.read_text().isdigit()
    assert launched.stat().st_mode & 0o777 == 0o600
