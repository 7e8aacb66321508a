"""``launcher="mpirun"``: the tasks of a job started by a real Open MPI ``mpirun`` (Debian's
openmpi-bin, installed by tests/cluster/sandbox.py's package list), on the local backend
and inside a job of the real SLURM sandbox. Each rank knows its rank and world size from
Open MPI's variables and writes its own output, as with srun; where mpirun is not on the
job's PATH, the job fails with a sentence that says what to do."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl

pytestmark = pytest.mark.timeout(240)
MPI_PROGRAMS = {"mpirun", "mpiexec", "orterun", "oshrun", "prterun"}


def _rank_report(tag: str) -> dict[str, Any]:
    """What a task sees (shipped by value)."""
    import os

    import clusterlab as cl

    t = cl.task()
    print(f"{tag}: rank {t.rank} of {t.world_size} says hello")
    env = os.environ
    return {
        "task": (t.rank, t.world_size, t.local_rank),
        "env": (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"]),
        "mpi": env.get("OMPI_COMM_WORLD_RANK"),
        "master": (env["MASTER_ADDR"], env["MASTER_PORT"]),
    }


def _need_mpirun() -> None:
    if shutil.which("mpirun") is None:
        pytest.fail(
            "mpirun is not installed: Debian's openmpi-bin is in tests/cluster/sandbox.py's "
            "PACKAGES (run tests/cluster/sandbox.py up, or apt-get install openmpi-bin)"
        )


def _check(job: cl.Job, n: int) -> None:
    ranks = job.task_results(timeout=180)
    assert job.result() == ranks[0]
    assert [r["task"] for r in ranks] == [(rank, n, rank) for rank in range(n)]
    assert [r["env"] for r in ranks] == [(str(rank), str(n), str(rank)) for rank in range(n)]
    assert [r["mpi"] for r in ranks] == [str(rank) for rank in range(n)]  # mpirun started them
    assert len({r["master"] for r in ranks}) == 1
    for rank in range(n):
        assert job.stdout(rank=rank).splitlines() == [f"m: rank {rank} of {n} says hello"]
    assert f"{n} tasks started with mpirun" in job.stderr()


def test_two_tasks_started_by_mpirun_on_the_local_backend() -> None:
    """More tasks than this machine may have cores is still what the user asked for
    (the processes launcher starts them too), and the kernel runs as root here: Open MPI
    is told both are meant."""
    _need_mpirun()
    cl.profiles.save(cl.Profile(name="mpi", scheduler="local", poll_interval=0.5))
    n = max(2, (os.cpu_count() or 1) + 1)
    job = cl.cluster("mpi", tasks=n, launcher="mpirun")(_rank_report).submit("m")
    _check(job, n)


def test_two_tasks_started_by_mpirun_inside_a_slurm_job(sandbox: object, tmp_path: Path) -> None:
    from tests.conftest import slurm_local_profile

    _need_mpirun()
    cl.profiles.save(slurm_local_profile(tmp_path, name="smpi"))
    f = cl.cluster("smpi", tasks=2, cores=1, memory="100MB", launcher="mpirun")
    job = f(_rank_report).submit("m")
    _check(job, 2)
    assert "#SBATCH --ntasks=2" in job.job_script()


def _path_without_mpi(tmp_path: Path) -> str:
    """A PATH with every program of this machine's PATH but MPI's launchers: a profile
    of a cluster where no module providing mpirun was loaded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = os.path.join(directory, name)
            link = bin_dir / name
            if name in MPI_PROGRAMS or link.exists() or not os.access(target, os.X_OK):
                continue
            link.symlink_to(target)
    return str(bin_dir)


def test_mpirun_missing_from_the_profiles_path_fails_with_what_to_do(tmp_path: Path) -> None:
    path = _path_without_mpi(tmp_path)
    env = {"PATH": path}
    cl.profiles.save(cl.Profile(name="nompi", scheduler="local", poll_interval=0.5, env=env))
    job = cl.cluster("nompi", tasks=2, launcher="mpirun")(_rank_report).submit("m")
    with pytest.raises(cl.ClusterlabError) as caught:
        job.result(timeout=120)
    said = str(caught.value)
    assert "launcher='mpirun', but mpirun is not on PATH on " in said
    assert "load the module that provides it in the profile's setup lines" in said
    assert job.state == cl.JobState.FAILED


def test_mpirun_that_refuses_to_start_the_tasks_is_named_not_rank_0(tmp_path: Path) -> None:
    """The profile forbids oversubscription and the job asks for more tasks than cores:
    mpirun itself refuses; the job says mpirun failed before any task ran and where its
    words are (not that rank 0 died without a result)."""
    _need_mpirun()
    env = {"OMPI_MCA_rmaps_base_oversubscribe": "0"}
    cl.profiles.save(cl.Profile(name="strict", scheduler="local", poll_interval=0.5, env=env))
    n = (os.cpu_count() or 1) + 1
    job = cl.cluster("strict", tasks=n, launcher="mpirun")(_rank_report).submit("m")
    with pytest.raises(RuntimeError) as caught:
        job.result(timeout=120)
    said = str(caught.value)
    assert f"mpirun exited with code 1 before any of the {n} tasks left a result" in said
    assert "its own message is in job.stderr()" in said
    assert "not enough slots" in job.stderr()
