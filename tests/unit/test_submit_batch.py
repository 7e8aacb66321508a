"""Submission that never waits, on the local scheduler (the real SLURM cases are in
tests/integration/test_submit_batch.py): what a user sees without a cluster."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest

import clusterlab as cl
from clusterlab.backends.batch_submit import _outcomes, batch_tar
from clusterlab.core import ledger
from clusterlab.core.runtime import get_runtime

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
    files = {"runner.py": b"R" * 5000, "payload.pkl": b"p"}
    blob = batch_tar([("a", files, ["sbatch", "job.sh"]), ("b", files, ["x y", ""])], ".l")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar}
        assert members["b/runner.py"].islnk() and members["b/runner.py"].linkname == "a/runner.py"
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
