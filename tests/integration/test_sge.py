"""What is particular to Grid Engine, on the real cell of tests/cluster/sge.py (the shared
behaviour is in test_conformance.py): its environment, its refusals, and h_vmem."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

from ..conftest import remove_sge_dir, sge_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.sge, pytest.mark.timeout(300)]


@pytest.fixture
def sge(sge_cell: object, sandbox: object, tmp_path: Path) -> Iterator[cl.Profile]:
    profile = sge_profile(sandbox, sge_cell, "sge", tmp_path.name)
    cl.profiles.save(profile)
    yield profile
    remove_sge_dir(sandbox, profile, tmp_path.name)


def test_check_says_when_the_commands_reach_no_cell(sge: cl.Profile) -> None:
    assert cl.profiles.check(sge.name).ok
    # Without the settings file, Debian's /usr/bin/qstat falls back to the default cell,
    # which does not run: the check says so and names the field to set.
    bare = sge.replace(name="bare", sge_settings="")
    cl.profiles.save(bare)
    report = cl.profiles.check("bare")
    assert not report.ok
    assert "set the profile's sge_settings" in str(report)


def test_requests_no_queue_can_run_are_refused_at_submission(sge: cl.Profile) -> None:
    with pytest.raises(cl.SubmitError, match="no queue can run it"):
        cl.cluster(sge.name, cores=64)(abs).submit(-1).result(timeout=60)  # a 16-slot queue
    cl.profiles.save(sge.replace(sge_pe="nosuchpe"))
    with pytest.raises(cl.SubmitError, match="set the profile's sge_pe"):
        cl.cluster(sge.name, cores=2)(abs).submit(-1).result(timeout=60)


def test_cores_come_from_the_parallel_environment_and_memory_caps_address_space(
    sge: cl.Profile,
) -> None:
    def probe(mb: int) -> tuple[str, int]:
        import os
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        try:
            block = bytearray(mb * 1024 * 1024)
        except MemoryError:
            return os.environ.get("NSLOTS", ""), -limit
        return os.environ.get("NSLOTS", ""), len(block) and limit

    f = cl.cluster(sge.name, cores=2, memory="200MB")(probe)
    slots, limit = f.submit(100).result(timeout=120)
    assert slots == "2" and limit == (200 + 1024) * 1024 * 1024  # 612M per slot, 2 slots
    slots, limit = f.submit(2000).result(timeout=120)
    assert limit < 0  # beyond its h_vmem the allocation fails, in Python's own terms


def _boom() -> None:
    raise RuntimeError("prep failed")


def test_a_failed_dependency_is_pushed_not_left_to_the_next_poll(sge: cl.Profile) -> None:
    """The guard's word reaches the dependent through the status agent too: with the
    scheduler asked every 5 minutes, it ends CANCELLED without another scheduler poll."""
    import concurrent.futures

    slow = sge.replace(name="sgeslow", poll_interval=300.0)
    cl.profiles.save(slow)
    prep = cl.cluster(slow.name)(_boom).submit()
    then = cl.cluster(slow.name)(abs).submit(-1, after=[prep])
    with pytest.raises(RuntimeError, match="prep failed"):
        prep.result(timeout=120)
    watcher = get_runtime(slow).watcher
    for _ in range(600):  # the poll that follows its submission has seen it
        if then.native_id and then.native_id in watcher.last_seen:
            break
        time.sleep(0.05)
    polls = watcher.polls
    with pytest.raises(concurrent.futures.CancelledError):
        then.result(timeout=120)
    assert then.reason.startswith("dependency failed: job ")
    assert watcher.polls == polls, "settled by a scheduler poll, not by the pushed line"


def test_tasks_take_every_slot_and_start_with_mpirun_in_the_pe(sge: cl.Profile) -> None:
    """tasks=3 with cores=2: one job of 6 slots in the profile's parallel environment; the
    cell has Open MPI's mpirun (openmpi-bin), so the runner starts the 3 tasks with it
    in the PE's slots (each rank numbered by Open MPI), and says so.
    The cluster's Python has no clusterlab: cl.task() is the runner's stand-in."""

    def where() -> tuple[int, int, str, str, str]:
        import os

        import clusterlab as cl

        t = cl.task()
        env = os.environ
        mpi = env.get("OMPI_COMM_WORLD_RANK", "")
        return t.rank, t.world_size, env["NSLOTS"], mpi, env["MASTER_PORT"]

    job = cl.cluster(sge.name, tasks=3, cores=2)(where).submit()
    ranks = job.task_results(timeout=120)
    assert [r[:4] for r in ranks] == [(0, 3, "6", "0"), (1, 3, "6", "1"), (2, 3, "6", "2")]
    assert len({r[4] for r in ranks}) == 1
    assert "#$ -pe smp 6" in job.job_script()
    assert "3 tasks started with mpirun" in job.stderr()
