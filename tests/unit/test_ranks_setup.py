"""Multi-task jobs before and around the cluster: the request (tasks, tasks_per_node,
launcher) validated with sentences, what each scheduler is asked for, what the job script
tells the runner, what is refused; and the runner's stand-in for ``import clusterlab``
where the cluster's Python lacks it (run for real, with an interpreter that cannot import
clusterlab)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

import clusterlab as cl
from clusterlab.backends.sge import SgeBackend
from clusterlab.backends.slurm import SlurmBackend
from clusterlab.common import jobdir
from clusterlab.common.errors import ResourceError
from clusterlab.config.resources import parse_resources
from clusterlab.core.submission.ranks import task_env
from clusterlab.core.transfer.payload import dumps_call, load_result
from clusterlab.remote import runner
from clusterlab.transports import LocalTransport
from tests.unit.script_samples import sample_spec


def test_tasks_per_node_and_launcher_are_validated_with_what_to_do() -> None:
    assert parse_resources({"nodes": 2, "tasks_per_node": 3}).task_count == 6
    assert parse_resources({"tasks": 4, "launcher": "srun"}).launcher == "srun"
    with pytest.raises(ResourceError, match="launcher='torchrun': use one of 'auto', 'srun'"):
        parse_resources({"launcher": "torchrun"})
    with pytest.raises(ResourceError, match="the two disagree.*tasks=6"):
        parse_resources({"nodes": 2, "tasks_per_node": 3, "tasks": 5})
    with pytest.raises(ResourceError, match="tasks_per_node=0: must be at least 1"):
        parse_resources({"tasks_per_node": 0})


def test_each_scheduler_is_asked_for_every_task() -> None:
    slurm = SlurmBackend(cl.Profile(name="s", scheduler="slurm"), LocalTransport())
    lines = slurm.directives(sample_spec([], nodes=2, tasks_per_node=2))
    assert "#SBATCH --ntasks=4" in lines and "#SBATCH --ntasks-per-node=2" in lines
    sge = SgeBackend(cl.Profile(name="g", scheduler="sge", sge_pe="smp"), LocalTransport())
    assert "#$ -pe smp 6" in sge.directives(sample_spec([], tasks=3, cores=2))  # all slots


def test_the_job_script_tells_the_runner_only_for_several_tasks() -> None:
    assert task_env(parse_resources({"tasks": 1})) == {}
    assert task_env(parse_resources({"tasks": 4, "launcher": "processes"})) == {
        jobdir.TASKS_VAR: "4",
        jobdir.LAUNCHER_VAR: "processes",
    }
    assert task_env(parse_resources({"nodes": 2}))[jobdir.LAUNCHER_VAR] == "auto"


def test_a_pool_with_tasks_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(ResourceError, match=r"a pool's workers take items one at a time"):
        cl.cluster("local", tasks=2)(abs).map([1, 2], workers=2)
    assert cl.jobs() == []


def test_cl_task_outside_a_job_is_rank_0_of_1(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (jobdir.TASK_INFO_VAR, jobdir.ATTEMPT_VAR):
        monkeypatch.delenv(name, raising=False)
    assert cl.task() == cl.TaskInfo(rank=0, world_size=1, local_rank=0, node=0, attempt=0)


def _make_reporter() -> object:
    """Nested: shipped by value; it names clusterlab, which is pickled by reference."""

    def report() -> object:
        return cl.task()

    return report


def test_cl_task_works_where_the_cluster_python_has_only_cloudpickle(tmp_path: Path) -> None:
    """``python -S`` with only cloudpickle's dir on its path cannot import clusterlab; the
    runner provides the stand-in, to the launcher and to every rank it starts."""
    for name in jobdir.RUNNER_FILES:  # the runner and the files shipped beside it
        (tmp_path / name).write_bytes((Path(runner.__file__).parent / name).read_bytes())
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(_make_reporter(), (), {}, {}))
    site = str(Path(cloudpickle.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": site, jobdir.TASKS_VAR: "2", jobdir.LAUNCHER_VAR: "auto"}
    env.pop("SLURM_JOB_ID", None)
    probe = [
        sys.executable,
        "-S",
        "-c",
        "import importlib.util as u; print(u.find_spec('clusterlab'))",
    ]
    assert subprocess.run(probe, env=env, capture_output=True, text=True).stdout.strip() == "None"
    argv = [sys.executable, "-S", jobdir.RUNNER, str(tmp_path)]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert importlib.util.find_spec("clusterlab") is not None  # here it is the real one
    ok, value = load_result((tmp_path / jobdir.RESULT).read_bytes())
    assert ok and value == cl.TaskInfo(rank=0, world_size=2, local_rank=0, node=0, attempt=0)
    ok, other = load_result((tmp_path / jobdir.rank_result(1)).read_bytes())
    assert ok and (other.rank, other.world_size) == (1, 2)


def test_tasks_on_several_hosts_without_a_launcher_that_reaches_them_are_refused(
    tmp_path: Path,
) -> None:
    """A PBS job of 2 hosts on a cluster without mpirun: N processes would all crowd the
    first host, so the job fails with what to do (the runner's PATH is an empty dir: this
    machine's mpirun is not on it)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    assert shutil.which("mpirun", path=str(empty)) is None
    for name in jobdir.RUNNER_FILES:  # the runner and the files shipped beside it
        (tmp_path / name).write_bytes((Path(runner.__file__).parent / name).read_bytes())
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(_make_reporter(), (), {}, {}))
    nodefile = tmp_path / "nodes"
    nodefile.write_text("node1\nnode1\nnode2\nnode2\n")
    env = {**os.environ, "PBS_NODEFILE": str(nodefile), jobdir.TASKS_VAR: "4"}
    env["PATH"] = str(empty)
    env.pop("SLURM_JOB_ID", None)
    done = subprocess.run([sys.executable, jobdir.RUNNER, str(tmp_path)], cwd=tmp_path, env=env)
    assert done.returncode == 2
    ok, error = load_result((tmp_path / jobdir.RESULT).read_bytes())
    assert not ok and "the job has 2 hosts but no launcher that reaches them" in str(error)
    assert "load the module that provides mpirun" in str(error)
