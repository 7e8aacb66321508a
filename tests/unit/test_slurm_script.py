"""The rendered sbatch script: a golden file, and quoting that survives any path."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, JobSpec
from clusterlab.backends.slurm import REASON_MAP, STATE_MAP, SlurmBackend
from clusterlab.common.states import JobState
from clusterlab.transports import LocalTransport
from tests.unit.script_samples import JOB_DIR, golden, sample_spec


def backend() -> SlurmBackend:
    return SlurmBackend(cl.Profile(name="t", scheduler="slurm"), LocalTransport())


def spec(job_dir: str = JOB_DIR, **res: object) -> JobSpec:
    return sample_spec(["41", "42"], job_dir, **res)


def test_script_matches_golden_file() -> None:
    script = backend().job_script(
        spec(
            cores=4,
            memory="8GB",
            time="1:00:00",
            gpus="a100:2",
            partition="normal",
            account="proj1",
            nodes=2,
            tasks=8,
            qos="high",
            constraint="skylake&ib",
            extra=["--exclusive", "--mail-type=END"],
        )
    )
    assert script == golden("slurm_job.sh", script)


def test_tasks_are_an_allocation_the_function_runs_once_in() -> None:
    """tasks=N asks for N tasks; the runner is the batch step (run once) and the user's
    code starts the tasks with srun. Without tasks, one per node: --nodes=2 with
    --ntasks=1 would make sbatch shrink the job to one node."""
    assert "#SBATCH --ntasks=1" in backend().directives(spec())
    two_nodes = backend().directives(spec(nodes=2))
    assert "#SBATCH --nodes=2" in two_nodes and "#SBATCH --ntasks=2" in two_nodes
    script = backend().job_script(spec(tasks=4, cores=2))
    assert "#SBATCH --ntasks=4\n#SBATCH --cpus-per-task=2\n" in script
    assert script.count("runner.py") == 1 and "srun" not in script


def test_gpus_with_and_without_a_type() -> None:
    assert "#SBATCH --gres=gpu:2" in backend().directives(spec(gpus=2))
    assert "#SBATCH --gres=gpu:a100:2" in backend().directives(spec(gpus="a100:2"))
    assert not [d for d in backend().directives(spec(gpus=0)) if "gres" in d]


def test_array_script_matches_golden_file() -> None:
    s = spec(cores=1, time="10")
    s.array = ArraySpec(tasks=200, max_concurrent=5)
    script = backend().job_script(s)
    assert script == golden("slurm_array.sh", script)
    assert "#SBATCH --array=0-199%5" in script
    assert 'runner.py "$JOB_DIR" "$TASK"' in script


def test_defaults_leave_scheduler_defaults() -> None:
    script = backend().job_script(spec())
    assert "--mem" not in script and "--time" not in script and "--cpus-per-task" not in script


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r"),
        min_size=1,
        max_size=30,
    )
)
def test_job_dir_survives_any_characters(weird: str) -> None:
    """The script's JOB_DIR is exactly the path we meant, whatever it contains."""
    job_dir = f"/tmp/x/{weird}"
    script = backend().job_script(spec(job_dir=job_dir))
    line = next(ln for ln in script.split("\n") if ln.startswith("JOB_DIR="))
    out = subprocess.run(
        ["sh", "-c", line + '\nprintf %s "$JOB_DIR"'], capture_output=True, check=True
    ).stdout.decode("utf-8", "surrogateescape")
    assert out == job_dir


def test_python_command_is_quoted() -> None:
    script = backend().job_script(spec())
    assert "'/opt/py 3/bin/python' -X faulthandler runner.py \"$JOB_DIR\"" in script
    line = next(ln for ln in script.splitlines() if "runner.py" in ln)
    assert shlex.split(line)[0] == "/opt/py 3/bin/python"


def test_state_map_covers_slurm_states() -> None:
    for code in [
        "PENDING",
        "RUNNING",
        "COMPLETING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "REQUEUED",
        "SUSPENDED",
    ]:
        assert isinstance(STATE_MAP[code], JobState)
    assert STATE_MAP["OUT_OF_MEMORY"] == JobState.FAILED
    assert STATE_MAP["DEADLINE"] == JobState.TIMEOUT


def test_reasons_are_sentences() -> None:
    b = backend()
    assert b.reason("PENDING", "Resources") == "waiting for resources (the nodes it needs are busy)"
    assert b.reason("PENDING", "DependencyNeverSatisfied").startswith("dependency failed")
    assert b.reason("PENDING", "None") == ""
    assert b.reason("PENDING", "SomethingNew") == "scheduler says: SomethingNew"
    assert all(" " in sentence for sentence in REASON_MAP.values())


def test_submit_errors_become_advice() -> None:
    b = backend()
    msg = b.explain_submit_error(
        "sbatch: error: Memory specification can not be satisfied\n"
        "sbatch: error: Batch job submission failed: Requested node configuration is not available"
    )
    assert msg.startswith("no node can satisfy the request")
    assert "invalid partition" not in msg
    assert b.explain_submit_error("sbatch: error: invalid partition specified: gpu").startswith(
        "the partition does not exist"
    )


def test_squeue_parsing() -> None:
    b = backend()
    parsed = b.parse_query("12|PENDING|Resources\n13|RUNNING|None\n", "", 0)
    assert parsed == {"12": ("PENDING", "Resources"), "13": ("RUNNING", "None")}
    # every id forgotten by slurmctld: squeue exits 1; that is "not listed", not an error
    assert b.parse_query("", "slurm_load_jobs error: Invalid job id specified", 1) == {}
    with pytest.raises(cl.TransportError, match="squeue failed"):
        b.parse_query("", "slurm_load_jobs error: Unable to contact slurm controller", 1)
    assert b.query_argv(["12", "13; rm -rf ~"]) == [
        "squeue",
        "--noheader",
        "--array",
        "--states=all",
        "--jobs=12",
        "--format=%i|%T|%r",
    ]


def test_jobs_gone_from_squeue_are_asked_of_sacct_when_accounting_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With slurmdbd (not in the sandbox) a job that left squeue before its runner could
    report is settled by sacct: state, reason and cause as for squeue. The two commands
    are stand-ins printing what SLURM 22.05 prints for these options."""
    from clusterlab.backends.base import WatchTarget
    from clusterlab.common.states import Cause

    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "scontrol").write_text(
        "#!/bin/sh\necho 'AccountingStorageType   = accounting_storage/slurmdbd'\n"
    )
    (shims / "squeue").write_text("#!/bin/sh\nexit 0\n")  # both jobs already left squeue
    (shims / "sacct").write_text(
        "#!/bin/sh\nprintf '%s\\n' '71|OUT_OF_MEMORY|None' '72|CANCELLED by 1000|None'\n"
    )
    for f in shims.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    obs = backend().poll(
        [WatchTarget("71", str(tmp_path / "a")), WatchTarget("72", str(tmp_path / "b"))]
    )
    assert obs["71"].state == JobState.FAILED and obs["71"].cause == Cause.OUT_OF_MEMORY
    assert obs["72"].state == JobState.CANCELLED


def test_no_accounting_no_sacct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "scontrol").write_text(
        "#!/bin/sh\necho 'AccountingStorageType = accounting_storage/none'\n"
    )
    (shims / "sacct").write_text(f"#!/bin/sh\ntouch {tmp_path}/asked\n")
    for f in shims.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    assert backend().history_argv(["71"]) is None
    assert not (tmp_path / "asked").exists()
