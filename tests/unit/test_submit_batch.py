"""Submission that never waits, on the local scheduler (the real SLURM cases are in
tests/integration/test_submit_batch.py): what a user sees without a cluster."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, JobSpec
from clusterlab.backends.batch_submit import _outcomes, _plan, batch_tar
from clusterlab.core.ledger import store as ledger
from clusterlab.core.runtime import get_runtime
from tests.unit.script_samples import sample_spec

pytestmark = pytest.mark.timeout(120)


def test_submit_is_submitting_then_runs_and_the_loop_is_one_batch() -> None:
    f = cl.cluster("local")(abs)
    batcher = get_runtime(cl.profiles.resolve("local")).batcher
    before = batcher.batches
    jobs = [f.submit(-i) for i in range(20)]
    assert jobs[-1].state == cl.JobState.SUBMITTING
    assert ledger.get(jobs[-1].id).state == "SUBMITTING"  # type: ignore[union-attr]
    assert [j.result(timeout=60) for j in jobs] == list(range(20))
    assert all(j.native_id for j in jobs)
    assert batcher.batches - before <= 3


def test_an_unpicklable_argument_still_raises_at_the_call() -> None:
    import threading

    with pytest.raises(cl.SerializationError, match=r"argument 0"):
        cl.cluster("local")(abs).submit(threading.Lock())
    assert cl.jobs() == []  # nothing recorded


def test_exit_right_after_a_loop_of_submits_leaves_nothing_submitting() -> None:
    """The interpreter's exit submits what is still queued (nothing silently lost)."""
    script = (
        "import clusterlab as cl\n"
        "jobs = [cl.cluster('local')(abs).submit(-i) for i in range(30)]\n"
        "print(jobs[-1].state.value)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["SUBMITTING"]  # it exited with submissions queued
    rows = cl.jobs()
    assert len(rows) == 30
    assert not [r for r in rows if r.state == "SUBMITTING" or not r.native_id]


def test_the_batch_tar_holds_the_runner_once_and_each_submit_argv() -> None:
    files = {"runner.py": b"R" * 5000, "runner_items.py": b"I" * 3000, "payload.pkl": b"p"}
    blob = batch_tar([("a", files, ["sbatch", "job.sh"]), ("b", files, ["x y", ""])], ".l")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar}
        assert members["b/runner.py"].islnk() and members["b/runner.py"].linkname == "a/runner.py"
        items = members["b/runner_items.py"]  # the runner's second file, once too
        assert items.islnk() and items.linkname == "a/runner_items.py"
        argv = tar.extractfile(members["b/.submit.argv"]).read()  # type: ignore[union-attr]
        assert argv == b"x y\0"  # NUL-separated: spaces and empty words survive
        assert tar.extractfile(members[".l"]).read() == b"a\nb\n"  # type: ignore[union-attr]
        assert [m.name for m in members.values() if m.isfile() and m.size == 5000] == [
            "a/runner.py"
        ]


def test_each_job_of_a_batch_gets_its_own_outcome() -> None:
    m = "--clusterlab-x--"
    out = f"{m} 1 1\n\n{m} err\nsbatch: error: bad\n{m} 0 0\n42\n\n{m} err\n".encode()
    assert _outcomes(out, m, 3) == [(0, "42\n", ""), (1, "", "sbatch: error: bad\n"), None]


def test_a_map_after_a_submitting_job_waits_for_its_id() -> None:
    first = cl.cluster("local")(abs).submit(-5)
    assert first.state == cl.JobState.SUBMITTING
    arr = cl.cluster("local")(abs).map([-1, -2], after=[first])
    assert arr.results(timeout=60) == [1, 2]
    assert first.result(timeout=60) == 5


def _slurm(max_array: int = 1001) -> Any:
    from clusterlab.backends.slurm import SlurmBackend
    from clusterlab.transports.local import LocalTransport

    backend = SlurmBackend(cl.Profile(name="t", scheduler="slurm"), LocalTransport())
    backend._max_array = max_array  # as `scontrol show config` would have said
    return backend


def _specs(n: int, **res: object) -> list[JobSpec]:
    out = []
    for i in range(n):
        spec = sample_spec([], job_dir=f"/jobs/j{len(res)}-{i}", **res)
        out.append(spec)
    return out


def test_alike_jobs_of_a_batch_are_planned_as_one_array_in_task_order() -> None:
    alike, other = _specs(3, memory="1GB"), _specs(1, memory="2GB")
    specs = [alike[0], other[0], alike[1], alike[2]]
    plan = _plan(_slurm(), specs)
    assert [(e.array, e.members) for e in plan] == [(True, [0, 2, 3]), (False, [1])]
    script = plan[0].files["array.sh"].decode()
    assert "#SBATCH --array=0-2" in script and "#SBATCH --mem=1024M" in script
    assert "#SBATCH --output=%a/stdout" in script and "--output=stdout\n" not in script
    assert plan[0].files[".members"] == b"j1-0\nj1-1\nj1-2\n"  # task i's job dir on line i+1
    assert plan[0].argv == ["sbatch", "--parsable", "array.sh"]


def test_what_stays_a_job_of_its_own() -> None:
    dep = sample_spec(["17"], job_dir="/jobs/dep")
    named = _specs(2, extra=["--output=mine.txt"])
    arr = _specs(2)
    arr[1].array = ArraySpec(4)
    plan = _plan(_slurm(), [dep, *named, *arr])
    assert [(e.array, e.members) for e in plan] == [(False, [i]) for i in range(5)]
    # the scheduler's array size splits a long run of alike jobs; a lone rest is a job
    plan = _plan(_slurm(max_array=3), _specs(7))
    assert [(e.array, e.members) for e in plan] == [
        (True, [0, 1, 2]),
        (True, [3, 4, 5]),
        (False, [6]),
    ]


def test_coalescing_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERLAB_COALESCE", "0")
    assert [e.array for e in _plan(_slurm(), _specs(4))] == [False] * 4


def test_the_batch_tar_links_each_task_to_its_job_dir() -> None:
    blob = batch_tar(
        [("j0", {}, None), ("j1", {}, None), (".array-x", {"array.sh": b"s"}, ["sbatch"])],
        ".l",
        {".array-x/0": "../j0", ".array-x/1": "../j1"},
    )
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar}
        assert members[".array-x/1"].issym() and members[".array-x/1"].linkname == "../j1"
        assert "j0/.submit.argv" not in members  # submitted by the array, not on its own
        assert tar.extractfile(members[".l"]).read() == b".array-x\n"  # type: ignore[union-attr]
