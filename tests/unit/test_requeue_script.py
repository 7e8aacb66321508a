"""requeue=True in the job script: SLURM's options, and the batch shell passing the
time-limit warning (USR2, sent to the shell only) on to the runner, then recording how
the runner ended as for any job. Run with a real sh and a stand-in runner."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.backends.slurm import SlurmBackend
from clusterlab.common.jobdir import parse_status
from clusterlab.transports import LocalTransport
from tests.unit.script_samples import sample_spec

STAND_IN = """
import signal, sys, time
def warned(signum, frame):
    open("warned", "w").write("USR2")
    sys.exit(0)
signal.signal(signal.SIGUSR2, warned)
open("ready", "w").write("")
time.sleep(60)
sys.exit(3)
"""


def _script(job_dir: Path, grace: int) -> str:
    spec = replace(sample_spec([], str(job_dir), time="0:10:00"), requeue_grace=grace)
    spec.python, spec.setup = [sys.executable], []
    return SlurmBackend(cl.Profile(name="t", scheduler="slurm"), LocalTransport()).job_script(spec)


def test_slurm_asks_for_a_warning_a_requeue_and_appended_logs(tmp_path: Path) -> None:
    script = _script(tmp_path, 90)
    for line in ("--requeue", "--signal=B:USR2@90", "--open-mode=append"):
        assert f"#SBATCH {line}\n" in script
    assert "--requeue" not in _script(tmp_path, 0) and "trap" not in _script(tmp_path, 0)


def test_the_batch_shell_passes_the_warning_on_to_the_runner(tmp_path: Path) -> None:
    (tmp_path / "runner.py").write_text(STAND_IN)
    (tmp_path / "job.sh").write_text(_script(tmp_path, 60))
    shell = subprocess.Popen(["sh", str(tmp_path / "job.sh")], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shell.send_signal(signal.SIGUSR2)  # what SLURM's --signal=B: does
        assert shell.wait(timeout=30) == 0
    finally:
        shell.kill()
    assert (tmp_path / "warned").read_text() == "USR2"
    assert parse_status((tmp_path / "status").read_bytes()).exit_code == 0


def test_requeue_is_refused_where_the_scheduler_cannot_requeue() -> None:
    f = cl.cluster("local", requeue=True)(abs)
    with pytest.raises(cl.SubmitError, match="requeue=True needs a scheduler that requeues"):
        f.submit(1)
