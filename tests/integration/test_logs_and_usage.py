"""Per-item logs and what jobs used, as a user reads them (issue 17, points 5 and 7).

With the default plan several items share one scheduler task (chunks) or one worker
(``workers=K``), and so share its stdout/stderr files: ``arr[i].stdout()`` must still be
item i's output, and only it. Every job reports the time, CPU and memory it used, kept in
the ledger so a new process (a restarted kernel, the CLI) sees it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.ledger import store as ledger

from ..conftest import ssh_profile

pytestmark = pytest.mark.timeout(240)

MB = 1024 * 1024


def make_talker(pause: float = 0.0) -> Callable[[int], int]:
    """Nested, so cloudpickle ships it by value. Prints to both streams, from Python (one
    line left in Python's buffer at return) and from a child process."""

    def talk(x: int) -> int:
        import subprocess
        import sys
        import time

        print(f"out {x} a", flush=True)
        print(f"err {x}", file=sys.stderr)
        subprocess.run(["echo", f"child {x}"], check=True)  # same file, another process
        time.sleep(pause)
        print(f"out {x} b")  # still buffered when the function returns
        return x

    return talk


def own_output(i: int) -> str:
    return f"out {i} a\nchild {i}\nout {i} b\n"


def test_a_chunked_item_logs_only_its_own_output() -> None:
    arr = cl.cluster("local")(make_talker()).map(range(6), chunksize=3)
    assert arr.plan == "6 items in 2 tasks of 3"
    assert arr.results(timeout=120) == list(range(6))
    for i, item in enumerate(arr):
        assert item.stdout() == own_output(i)
        assert item.stderr() == f"err {i}\n"


def test_a_pool_item_logs_only_its_own_output() -> None:
    arr = cl.cluster("local")(make_talker(0.05)).map(range(8), workers=2)
    assert arr.results(timeout=120) == list(range(8))
    assert {item.task for item in arr} == {0, 1}  # both workers ran items
    for i, item in enumerate(arr):
        assert item.stdout() == own_output(i)
        assert item.stderr() == f"err {i}\n"


def make_waiter(gate: str) -> Callable[[int], int]:
    def wait_for_gate(x: int) -> int:
        import os
        import time

        print(f"started {x}", flush=True)
        while not os.path.exists(gate):
            time.sleep(0.05)
        print(f"finished {x}")
        return x

    return wait_for_gate


def test_a_running_item_shows_its_output_so_far_and_a_waiting_one_none(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    arr = cl.cluster("local")(make_waiter(str(gate))).map([10, 11], chunksize=2)
    deadline = time.monotonic() + 60
    while arr[0].stdout() != "started 10\n":
        assert time.monotonic() < deadline, arr[0].stdout()
        time.sleep(0.1)
    assert arr[1].stdout() == ""  # its task has not reached it yet
    gate.touch()
    assert arr.results(timeout=60) == [10, 11]
    assert arr[0].stdout() == "started 10\nfinished 10\n"
    assert arr[1].stdout() == "started 11\nfinished 11\n"


def make_hog() -> Callable[[int], int]:
    def hog(mb: int) -> int:
        block = b"x" * (mb * 1024 * 1024)  # written, so every page is resident
        return len(block)

    return hog


def test_usage_of_a_job_that_allocates_200_mb() -> None:
    job = cl.cluster("local", memory="16GB")(make_hog()).submit(200)
    assert job.usage is None  # not known before it ends
    assert job.result(timeout=120) == 200 * MB
    usage = job.usage
    assert isinstance(usage, cl.Usage)
    assert usage.max_rss >= 200 * MB
    assert usage.cpu_time > 0 and 0 < usage.elapsed < 60
    assert str(usage) in repr(job)
    assert "of 16 GB requested memory" in job.usage_hint
    assert "peak memory" in job._repr_html_() and "16 GB requested" in job._repr_html_()


def test_usage_of_a_sleeping_job() -> None:
    job = cl.cluster("local")(time.sleep).submit(2)
    job.result(timeout=60)
    assert job.usage is not None
    assert job.usage.elapsed >= 2.0
    assert job.usage.cpu_time < 1.0


def make_sleeper_printer() -> Callable[[float], float]:
    def nap(seconds: float) -> float:
        import time

        time.sleep(seconds)
        return seconds

    return nap


def test_usage_of_array_items_and_its_summary() -> None:
    arr = cl.cluster("local", memory="16GB")(make_sleeper_printer()).map(
        [0.2, 1.0, 0.2, 0.2], chunksize=2
    )
    arr.results(timeout=120)
    items = [item.usage for item in arr]
    assert all(u is not None for u in items)
    assert items[1].elapsed >= 1.0 and items[0].elapsed < 1.0  # type: ignore[union-attr]
    summary = arr.usage
    assert isinstance(summary, cl.ArrayUsage) and summary.items == 4
    assert summary.max.elapsed == max(u.elapsed for u in items)  # type: ignore[union-attr]
    assert summary.mean.elapsed == pytest.approx(sum(u.elapsed for u in items) / 4)  # type: ignore[union-attr]
    assert summary.max.max_rss > 0
    assert "of 16 GB requested memory" in arr.usage_hint
    assert "4 items" in arr._repr_html_()


def test_usage_survives_a_new_process() -> None:
    """The ledger keeps it: a restarted kernel sees what the job used without asking the
    cluster, and so does the list of jobs."""
    script = textwrap.dedent(
        """
        import json, clusterlab as cl
        def hog(mb):
            block = b"x" * (mb * 1024 * 1024)
            return len(block)
        job = cl.cluster("local")(hog).submit(120)
        arr = cl.cluster("local")(hog).map([10, 20], chunksize=2)
        job.result(timeout=120); arr.results(timeout=120)
        print(json.dumps([job.id, arr.id]), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
        env=dict(os.environ),
    )
    job_id, array_id = json.loads(out.stdout.strip().splitlines()[-1])
    rec = ledger.get(job_id)
    assert rec is not None and isinstance(rec.usage, cl.Usage)
    assert rec.usage.max_rss >= 120 * MB
    job = cl.job(job_id)
    assert isinstance(job, cl.Job)
    assert job.usage == rec.usage  # from the ledger, before any poll
    arr = cl.job(array_id)
    assert isinstance(arr, cl.ArrayJob)
    assert all(item.usage is not None for item in arr)
    assert arr.usage is not None and arr.usage.items == 2
    listed = {r.id: r for r in cl.jobs()}
    assert isinstance(listed[array_id].usage, cl.ArrayUsage)


def test_oom_and_time_limit_states_survive_a_new_process() -> None:
    """A job settled TIMEOUT or killed for memory (SIGKILL) keeps its state and sentence
    when another process reattaches to it."""
    cl.profiles.save(cl.Profile(name="lim", scheduler="local"))
    script = textwrap.dedent(
        """
        import json, os, signal, time, clusterlab as cl
        def killed():
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
        oom = cl.cluster("lim")(killed).submit()
        late = cl.cluster("lim", time="00:00:02")(time.sleep).submit(60)
        for job in (oom, late):
            try:
                job.result(timeout=120)
            except cl.JobError:
                pass
        print(json.dumps([oom.id, late.id, oom.reason, late.reason]), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
        env=dict(os.environ),
    )
    oom_id, late_id, oom_reason, late_reason = json.loads(out.stdout.strip().splitlines()[-1])
    oom = cl.job(oom_id)
    late = cl.job(late_id)
    assert isinstance(oom, cl.Job) and isinstance(late, cl.Job)
    with pytest.raises(cl.JobError, match="SIGKILL"):
        oom.result(timeout=60)
    with pytest.raises(cl.JobError, match="time limit"):
        late.result(timeout=60)
    assert (oom.state, oom.reason) == (cl.JobState.FAILED, oom_reason)
    assert "memory" in oom.reason
    assert (late.state, late.reason) == (cl.JobState.TIMEOUT, late_reason)
    assert "time limit (00:00:02)" in late.reason


def test_a_job_killed_with_its_job_script_stays_failed_in_a_new_process() -> None:
    """An OOM killer that takes the whole job (cgroup) leaves no ``exit`` line: once the
    scheduler has forgotten the job, its files say nothing. The ledger knew how it ended
    (FAILED, with the scheduler's sentence): a new process must not call it LOST, nor
    keep ``result()`` waiting for the grace given to jobs that may still show up."""
    script = textwrap.dedent(
        """
        import json, os, signal, time, clusterlab as cl
        def killed():
            time.sleep(0.5)
            os.kill(os.getppid(), signal.SIGKILL)  # the job script: no "exit" line
            os.kill(os.getpid(), signal.SIGKILL)
        job = cl.cluster("local")(killed).submit()
        try:
            job.result(timeout=120)
        except cl.JobError:
            pass
        print(json.dumps([job.id, job.state.value, job.reason]), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
        env=dict(os.environ),
    )
    job_id, state, reason = json.loads(out.stdout.strip().splitlines()[-1])
    assert state == "FAILED" and reason == "killed by SIGKILL"  # as a new process says
    job = cl.job(job_id)
    assert isinstance(job, cl.Job)
    with pytest.raises(cl.JobError, match="ended FAILED: killed by SIGKILL"):
        job.result(timeout=30)  # well within the 60 s grace
    assert (job.state.value, job.reason) == (state, reason)
    time.sleep(0.5)
    assert ledger.get(job_id).state == "FAILED"  # type: ignore[union-attr]


# -- the same on SLURM, over SSH (run under flock with the sandbox) ---------------------------
def test_item_logs_and_usage_on_slurm(sandbox: object) -> None:
    profile = ssh_profile(sandbox, name="logs-ssh")
    cl.profiles.save(profile)
    arr = cl.cluster(profile.name)(make_talker()).map(range(4), chunksize=2)
    assert arr.results(timeout=180) == list(range(4))
    for i, item in enumerate(arr):
        assert item.stdout() == own_output(i)
        assert item.stderr() == f"err {i}\n"
        assert item.usage is not None and item.usage.max_rss > 0
    pool = cl.cluster(profile.name)(make_talker(0.05)).map(range(4), workers=2)
    assert pool.results(timeout=180) == list(range(4))
    assert [item.stdout() for item in pool] == [own_output(i) for i in range(4)]
    job = cl.cluster(profile.name, memory="1GB")(make_hog()).submit(100)
    assert job.result(timeout=180) == 100 * MB
    assert job.usage is not None and job.usage.max_rss >= 100 * MB


def make_crasher() -> Callable[[int], int]:
    def crash(x: int) -> int:
        import os
        import sys

        print(f"item {x} gives up", file=sys.stderr, flush=True)
        os._exit(3)  # the whole task ends: later items of its chunk never start

    return crash


def test_an_item_its_task_never_reached_fails_with_the_tasks_stderr() -> None:
    arr = cl.cluster("local")(make_crasher()).map([7, 8], chunksize=2)
    arr.wait(timeout=60)
    assert arr[0].stderr() == "item 7 gives up\n" and arr[1].stderr() == ""
    with pytest.raises(cl.JobError, match="its task's stderr ---\nitem 7 gives up"):
        arr[1].result()
