"""Multi-task functions (tasks=N): the function runs once per task, launched the
scheduler's way, each task knowing its rank (cl.task(), RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT); job.result() is rank 0's value, job.task_results() every
rank's; a rank that raises fails the job with its exception, naming the rank, and the
other ranks are stopped; each rank's output is job.stdout(rank=R).

On the local backend (N processes) and on the real SLURM sandbox (srun inside the batch
script), through both transports; over SSH the cluster's Python has no clusterlab, so
cl.task() there is the runner's stand-in."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.common.errors import RemoteTraceback

pytestmark = pytest.mark.timeout(240)


def _where_am_i(tag: str) -> dict[str, Any]:
    """What a task sees (shipped by value: a module of this checkout is local code)."""
    import os
    import socket

    import clusterlab as cl

    t = cl.task()
    print(f"{tag}: rank {t.rank} says hello")
    env = os.environ
    return {
        "task": (t.rank, t.world_size, t.local_rank, t.node, t.attempt),
        "env": (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"]),
        "master": (env["MASTER_ADDR"], env["MASTER_PORT"]),
        "host": socket.gethostname(),
        "has_clusterlab_installed": hasattr(cl, "Profile"),
    }


def _local_profile() -> cl.Profile:
    profile = cl.Profile(name="ranks", scheduler="local", poll_interval=0.5, max_concurrent=2)
    cl.profiles.save(profile)
    return profile


def _check_ranks(job: cl.Job, n: int) -> list[dict[str, Any]]:
    ranks = job.task_results()
    assert job.result() == ranks[0]  # the job's value is rank 0's
    assert [r["task"][:2] for r in ranks] == [(rank, n) for rank in range(n)]
    assert [r["env"] for r in ranks] == [
        (str(rank), str(n), str(ranks[rank]["task"][2])) for rank in range(n)
    ]
    assert all(r["task"][4] == 0 for r in ranks)  # attempt 0: the first run
    masters = {r["master"] for r in ranks}
    assert len(masters) == 1  # every rank meets at the same address and port
    assert int(masters.pop()[1]) > 0
    for rank in range(n):  # each rank's output on its own, rank 0's as the job's
        assert job.stdout(rank=rank).splitlines() == [f"t: rank {rank} says hello"]
    assert job.stdout() == job.stdout(rank=0)
    return ranks


def test_four_tasks_on_the_local_backend() -> None:
    _local_profile()
    job = cl.cluster("ranks", tasks=4)(_where_am_i).submit("t")
    ranks = _check_ranks(job, 4)
    assert [r["task"][2] for r in ranks] == [0, 1, 2, 3]  # one host: local rank = rank
    assert "4 tasks started with processes" in job.stderr()
    with pytest.raises(cl.ClusterlabError, match="ran 4 tasks, ranks 0 to 3"):
        job.stdout(rank=4)


def _fails_on_rank_two(pid_dir: str) -> int:
    import os
    import time

    import clusterlab as cl

    rank = cl.task().rank
    with open(os.path.join(pid_dir, str(rank)), "w") as fh:
        fh.write(str(os.getpid()))
    if rank == 2:
        while len(os.listdir(pid_dir)) < 3:  # the others have started
            time.sleep(0.05)
        raise KeyError("rank two has no key")
    time.sleep(600)  # stopped long before this ends
    return rank


def test_a_rank_that_raises_fails_the_job_and_stops_the_others(tmp_path: Path) -> None:
    _local_profile()
    pids = tmp_path / "pids"
    pids.mkdir()
    job = cl.cluster("ranks", tasks=3)(_fails_on_rank_two).submit(str(pids))
    with pytest.raises(KeyError, match="rank two has no key") as caught:
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED
    assert "raised in rank 2 of 3" in "\n".join(getattr(caught.value, "__notes__", []))
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback) and "[rank 2 of 3" in str(cause)
    for name in ("0", "1"):  # the ranks that were still sleeping are gone
        pid = int((pids / name).read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _counts_runs(marker: str) -> tuple[int, int]:
    import clusterlab as cl

    with open(marker, "a") as fh:
        fh.write("ran\n")
    return cl.task().rank, cl.task().world_size


def _sleeps(pid_dir: str) -> None:
    import os
    import time

    import clusterlab as cl

    with open(os.path.join(pid_dir, str(cl.task().rank)), "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(600)


def test_cancel_stops_every_rank(tmp_path: Path) -> None:
    _local_profile()
    pids = tmp_path / "pids"
    pids.mkdir()
    job = cl.cluster("ranks", tasks=3)(_sleeps).submit(str(pids))
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 3:
        assert time.monotonic() < deadline, "the ranks did not start"
        time.sleep(0.1)
    assert job.cancel()
    assert job.state == cl.JobState.CANCELLED
    for path in pids.iterdir():  # no rank is left running
        pid = int(path.read_text())
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, f"rank {path.name} still runs"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return stat[0] != "Z"  # a zombie has ended


@pytest.fixture
def direct_ssh(sandbox: object) -> Iterator[cl.Profile]:
    from tests.integration.direct_support import direct_profile, drain

    profile = direct_profile(sandbox, name="rdirect", max_concurrent=2)
    cl.profiles.save(profile)
    yield profile
    drain(profile)


def test_direct_host_runs_every_task(direct_ssh: cl.Profile) -> None:
    """No scheduler: the runner starts the tasks as processes on the SSH host, whose
    Python has only cloudpickle (cl.task() is the runner's stand-in)."""
    job = cl.cluster(direct_ssh.name, tasks=2)(_where_am_i).submit("t")
    ranks = _check_ranks(job, 2)
    assert {r["has_clusterlab_installed"] for r in ranks} == {False}
    assert "2 tasks started with processes" in job.stderr()


def test_launcher_none_runs_the_function_once(tmp_path: Path) -> None:
    _local_profile()
    marker = tmp_path / "runs"
    job = cl.cluster("ranks", tasks=3, launcher="none")(_counts_runs).submit(str(marker))
    assert job.result(timeout=60) == (0, 1)  # it starts its own tasks
    assert marker.read_text() == "ran\n"
    assert job.task_results() == [(0, 1)]


def test_slurm_tasks_start_with_srun(slurm_profile: cl.Profile) -> None:
    job = cl.cluster(slurm_profile.name, tasks=3, cores=1, memory="100MB")(_where_am_i).submit("t")
    ranks = _check_ranks(job, 3)
    assert "3 tasks started with srun" in job.stderr()
    assert "#SBATCH --ntasks=3" in job.job_script()
    # over SSH the cluster's Python has only cloudpickle: cl.task() is the runner's stand-in
    over_ssh = slurm_profile.host not in ("", "localhost")
    assert {r["has_clusterlab_installed"] for r in ranks} == {not over_ssh}


def test_a_failing_slurm_rank_fails_the_job_naming_it(sandbox: object, tmp_path: Path) -> None:
    from tests.conftest import slurm_local_profile

    cl.profiles.save(slurm_local_profile(tmp_path, name="srank"))
    pids = tmp_path / "pids"
    pids.mkdir()
    job = cl.cluster("srank", tasks=3, cores=1, memory="100MB")(_fails_on_rank_two)
    with pytest.raises(KeyError, match="rank two has no key") as caught:
        job.submit(str(pids)).result(timeout=180)
    assert "[rank 2 of 3" in str(caught.value.__cause__)
    for name in ("0", "1"):  # srun's --kill-on-bad-exit stopped the sleeping ranks
        pid = int((pids / name).read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_cluster_cell_runs_on_every_task() -> None:
    from clusterlab.ui.magic import run

    _local_profile()
    ns: dict[str, Any] = {}
    run("ranks --tasks 3", "import clusterlab as cl\nt = cl.task()\nsize = t.world_size\n", ns)
    assert ns["size"] == 3  # rank 0's names come back
    assert ns["t"].rank == 0


def _allreduce(value: int) -> dict[str, Any]:
    """A real collective over MASTER_ADDR/MASTER_PORT, with the standard library only:
    rank 0 listens, every other rank sends its value and reads back the sum."""
    import os
    import socket
    import time

    import clusterlab as cl

    t = cl.task()
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    mine = value + t.rank
    if t.rank == 0:
        with socket.create_server(("", port)) as server:
            server.settimeout(120)
            peers = [server.accept()[0] for _ in range(t.world_size - 1)]
            total = mine + sum(int(p.recv(64)) for p in peers)
            for p in peers:
                p.sendall(str(total).encode())
                p.close()
    else:
        deadline = time.monotonic() + 120
        while True:  # rank 0 may not listen yet
            try:
                conn = socket.create_connection((addr, port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            conn.sendall(str(mine).encode())
            total = int(conn.recv(64))
    host = socket.gethostname()
    return {"rank": t.rank, "local": t.local_rank, "node": t.node, "host": host, "sum": total}


def test_four_ranks_on_two_nodes_agree_on_an_allreduce(sandbox: object) -> None:
    """nodes=2, tasks_per_node=2 on the sandbox's two namespace nodes (version 2): srun
    puts two ranks on each node, each node with its own hostname, and all four meet at
    rank 0's node (MASTER_ADDR resolves to its bridge address there) and agree on the sum."""
    from tests.conftest import ssh_profile

    partition = getattr(sandbox, "multi_partition", "")
    names = list(getattr(sandbox, "node_names", []))
    if not partition or len(names) < 2:
        pytest.fail(
            "the sandbox has no two namespace nodes (SANDBOX_VERSION >= 2 with "
            "multi_partition): bring the version-2 sandbox up (tests/cluster/sandbox.py)"
        )
    cl.profiles.save(ssh_profile(sandbox, name="twonodes"))
    f = cl.cluster("twonodes", nodes=2, tasks_per_node=2, memory="100MB", partition=partition)
    job = f(_allreduce).submit(10)
    ranks = job.task_results(timeout=180)
    assert [r["sum"] for r in ranks] == [10 * 4 + 0 + 1 + 2 + 3] * 4
    assert [r["rank"] for r in ranks] == [0, 1, 2, 3]
    hosts = {r["node"]: r["host"] for r in ranks}
    assert sorted(hosts.values()) == sorted(names[:2])  # one hostname per node
    assert [(r["node"], r["local"]) for r in ranks] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "4 tasks started with srun" in job.stderr()


def _nested(marker: str) -> Any:
    """Rank 0 submits an ordinary job of its own from inside its task."""
    import clusterlab as cl

    def once(marker: str) -> int:
        with open(marker, "a") as fh:
            fh.write("ran\n")
        return cl.task().world_size

    if cl.task().rank != 0:
        return None
    return cl.cluster("local")(once)(marker)


def test_a_job_submitted_from_inside_a_task_is_an_ordinary_job(tmp_path: Path) -> None:
    """The variables that make the runner a task (or a launcher) do not leak into a job a
    task submits: that job ran as rank 0 of 3 tasks of its own (a launcher again) or as a
    stray rank, instead of once."""
    _local_profile()
    marker = tmp_path / "runs"
    job = cl.cluster("ranks", tasks=3)(_nested).submit(str(marker))
    assert job.result(timeout=120) == 1
    assert marker.read_text() == "ran\n"


def _item_on_ranks(x: int) -> tuple[int, int, int]:
    import clusterlab as cl

    t = cl.task()
    print(f"item {x} rank {t.rank}")
    return x, t.rank, t.world_size


def test_each_map_item_runs_on_every_task() -> None:
    """.map() with tasks=2: every item runs on 2 ranks; its value is rank 0's, its
    task_results() every rank's, its logs per rank (rank 0's within its task's log)."""
    _local_profile()
    arr = cl.cluster("ranks", tasks=2)(_item_on_ranks).map([5, 6, 7], chunksize=2)
    assert arr.results(timeout=120) == [(5, 0, 2), (6, 0, 2), (7, 0, 2)]
    assert arr[1].task_results() == [(6, 0, 2), (6, 1, 2)]
    assert arr[1].stdout() == "item 6 rank 0\n"  # its own stretch of the shared task log
    assert arr[1].stdout(rank=1) == "item 6 rank 1\n"
    assert arr[2].stdout(rank=1) == "item 7 rank 1\n"


def test_slurm_map_items_run_on_srun_tasks(sandbox: object, tmp_path: Path) -> None:
    from tests.conftest import slurm_local_profile

    cl.profiles.save(slurm_local_profile(tmp_path, name="smap"))
    f = cl.cluster("smap", tasks=2, cores=1, memory="100MB")(_item_on_ranks)
    arr = f.map([1, 2])
    assert arr.results(timeout=180) == [(1, 0, 2), (2, 0, 2)]
    assert arr[0].task_results() == [(1, 0, 2), (1, 1, 2)]
    assert "2 tasks started with srun" in arr[0].stderr()


def _gpus_seen() -> tuple[int, str, str]:
    import os
    import socket

    import clusterlab as cl

    return cl.task().rank, socket.gethostname(), os.environ.get("CUDA_VISIBLE_DEVICES", "")


def test_slurm_gpus_are_the_request_on_every_node(sandbox: object) -> None:
    """gpus='TYPE:N' is SLURM's per-node GPU request (--gres): on the sandbox's counted
    GPUs (version 3: device files, no hardware) every rank of a 2-node job sees its node's
    N GPUs in CUDA_VISIBLE_DEVICES, as slurmd sets it; more than a node has is refused at
    submission with a sentence."""
    from tests.conftest import ssh_profile

    kind, per_node = getattr(sandbox, "gpu_type", ""), getattr(sandbox, "gpus_per_node", 0)
    if not kind or per_node < 1:
        pytest.fail("the sandbox has no counted GPUs (SANDBOX_VERSION >= 3): bring it up")
    partition = sandbox.multi_partition  # type: ignore[attr-defined]
    cl.profiles.save(ssh_profile(sandbox, name="gpunodes", resources={"partition": partition}))
    f = cl.cluster("gpunodes", nodes=2, memory="100MB", gpus=f"{kind}:{per_node}")(_gpus_seen)
    job = f.submit()
    ranks = job.task_results(timeout=180)
    assert [r[0] for r in ranks] == [0, 1] and len({r[1] for r in ranks}) == 2
    assert all(len(r[2].split(",")) == per_node for r in ranks), ranks
    assert f"#SBATCH --gres=gpu:{kind}:{per_node}" in job.job_script()
    too_many = cl.cluster("gpunodes", gpus=f"{kind}:{per_node + 1}")(abs).submit(-1)
    with pytest.raises(cl.SubmitError, match="no node can satisfy the request"):
        too_many.result(timeout=120)
