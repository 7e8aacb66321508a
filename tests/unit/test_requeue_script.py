"""requeue=True in the job script: SLURM's options, and the batch shell passing the
time-limit warning (USR2, sent to the shell only) on to the runner, then recording how
the runner ended as for any job. Run with a real sh and a stand-in runner."""

from __future__ import annotations

import contextlib
import os
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


# -- Grid Engine: USR1 at s_rt, to every process of the job ----------------------------------
STAND_IN_USR1 = STAND_IN.replace("SIGUSR2", "SIGUSR1").replace('"USR2"', '"USR1"')


def _sge_script(job_dir: Path, time_limit: str = "0:00:40", grace: int = 60) -> str:
    from clusterlab.backends.sge import SgeBackend

    spec = replace(sample_spec([], str(job_dir), time=time_limit), requeue_grace=grace)
    spec.python, spec.setup = [sys.executable], []
    return SgeBackend(cl.Profile(name="t", scheduler="sge"), LocalTransport()).job_script(spec)


def test_grid_engine_asks_for_a_rerunnable_job_and_a_soft_limit_before_h_rt(
    tmp_path: Path,
) -> None:
    script = _sge_script(tmp_path).splitlines()
    assert "#$ -r y" in script
    assert "#$ -l h_rt=0:00:40" in script and "#$ -l s_rt=0:00:20" in script  # half of 40 s
    assert "#$ -l s_rt=0:09:00" in _sge_script(tmp_path, "0:10:00").splitlines()  # 60 s grace
    assert "trap 'warned=1' USR1" in script  # survives the warning, sends no second copy


def test_grid_engines_warning_to_the_whole_job_leaves_the_shell_alive(tmp_path: Path) -> None:
    """Grid Engine signals the job's process group at s_rt: the job shell must survive it
    (else the job ends before the runner could requeue it) and the runner sees it."""
    (tmp_path / "runner.py").write_text(STAND_IN_USR1)
    (tmp_path / "job.sh").write_text(_sge_script(tmp_path))
    shell = subprocess.Popen(["sh", str(tmp_path / "job.sh")], cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(shell.pid, signal.SIGUSR1)  # what Grid Engine does at s_rt
        assert shell.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
    assert (tmp_path / "warned").read_text() == "USR1"
    assert parse_status((tmp_path / "status").read_bytes()).exit_code == 0


def test_a_requeue_command_missing_where_the_job_runs_is_said_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The warning arrives inside the user's function: a requeue command that cannot run
    there must not become the function's exception (it runs on to its limit instead)."""
    from clusterlab.remote import attempts

    lines: list[tuple[object, dict[str, object]]] = []
    policy = {"requeue": True, "requeue_argv": ["/nonexistent/bin/qmod", "-rj", "5"]}
    tries = attempts.Attempts(lambda event, **kw: lines.append((event, kw)), policy, 0)
    tries.warned()  # raised FileNotFoundError before
    err = capsys.readouterr().err
    assert "/nonexistent/bin/qmod could not run" in err and "it runs to its limit" in err


REQUEUE_THEN_99 = """
import json, os
with open("status", "a") as fh:
    fh.write(json.dumps({"event": "requeue", "cause": "time limit warning"}) + "\\n")
os._exit(99)
"""


@pytest.mark.parametrize(
    ("runner", "grace", "code"),
    [
        (REQUEUE_THEN_99, 60, 99),  # the runner ends a run to be requeued: Grid Engine reruns
        ("import os; os._exit(99)", 60, 1),  # a 99 of the function's own stays no order
        (REQUEUE_THEN_99, 0, 1),  # nor without requeue=True
    ],
)
def test_grid_engine_gets_exit_99_only_from_a_run_ended_to_be_requeued(
    tmp_path: Path, runner: str, grace: int, code: int
) -> None:
    (tmp_path / "runner.py").write_text(runner)
    (tmp_path / "job.sh").write_text(_sge_script(tmp_path, grace=grace))
    assert subprocess.run(["sh", str(tmp_path / "job.sh")], cwd=tmp_path).returncode == code
