"""One poller per cluster per machine, with real processes and the real SLURM sandbox.

Each "kernel" is a separate Python process using the public API on a saved profile (the
same config and data dir, as kernels of one user share them): it submits a sleeping job,
waits for its result and prints how many scheduler round trips its watcher made and how
many polls it answered from the shared observations in the ledger.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import clusterlab as cl
from clusterlab.core.ledger import store as ledger

KERNEL = textwrap.dedent(
    """
    import json, sys, time
    import clusterlab as cl

    name, seconds, value = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    nap = cl.cluster(name)(lambda s, v: (time.sleep(s), v)[1])
    job = nap.submit(seconds, value)
    print(json.dumps({"native": job.native_id}), flush=True)
    result = job.result(timeout=120)
    shared = job.engine.watcher.shared  # this process's side of the shared poller
    print(json.dumps({"result": result, "polls": shared.scheduler_polls,
                      "reads": shared.shared_reads}), flush=True)
    """
)


def _kernel(profile: cl.Profile, seconds: float, value: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", KERNEL, profile.name, str(seconds), str(value)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    assert "native" in json.loads(proc.stdout.readline())  # submitted
    return proc


def _finish(proc: subprocess.Popen[str]) -> dict[str, int]:
    assert proc.stdout is not None
    out = json.loads(proc.stdout.readline())
    assert proc.wait(timeout=30) == 0
    return out  # type: ignore[no-any-return]


def _lease_holder_pid() -> int | None:
    conn = sqlite3.connect(ledger.path())
    try:
        row = conn.execute("SELECT pid FROM poll_leases").fetchone()
    except sqlite3.OperationalError:  # no watcher created the table yet
        row = None
    finally:
        conn.close()
    return int(row[0]) if row else None


def _wait_for_holder(pid: int) -> None:
    deadline = time.monotonic() + 30
    while _lease_holder_pid() != pid:
        assert time.monotonic() < deadline, "the first kernel never took the poll lease"
        time.sleep(0.1)


def test_kernels_on_one_cluster_share_one_poller(slurm_profile: cl.Profile) -> None:
    first = _kernel(slurm_profile, 7, 1)
    _wait_for_holder(first.pid)
    others = [_kernel(slurm_profile, 3, v) for v in (2, 3, 4)]
    seen = [_finish(p) for p in others]
    held = _finish(first)
    assert [s["result"] for s in seen] == [2, 3, 4] and held["result"] == 1
    assert held["polls"] > 0
    for s in seen:  # the others never asked the scheduler: they read the holder's polls
        assert s["polls"] == 0 and s["reads"] > 0
    assert _lease_holder_pid() is None  # the last kernel released the lease at exit


def test_killing_the_holder_hands_the_lease_over(slurm_profile: cl.Profile) -> None:
    holder = _kernel(slurm_profile, 60, 0)
    _wait_for_holder(holder.pid)
    others = [_kernel(slurm_profile, 4, v) for v in (5, 6)]
    time.sleep(1.0)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    seen = [_finish(p) for p in others]
    assert [s["result"] for s in seen] == [5, 6]  # their jobs still settled
    assert sum(s["polls"] for s in seen) > 0  # one of them took over the polling
    # The dead kernel's job is still in the ledger: a new process reattaches and ends it.
    dead = [r for r in cl.jobs() if r.state not in ("COMPLETED",)]
    assert len(dead) == 1
    job = cl.job(dead[0].id)
    assert isinstance(job, cl.Job)
    job.cancel()
    assert job.state == cl.JobState.CANCELLED


def test_lease_table_lives_in_the_private_ledger(tmp_path: Path) -> None:
    """The lease shares the ledger's file (0600), never a world-readable one."""
    from clusterlab.backends.base import WatchTarget
    from clusterlab.core.watching.sharedpoll import SharedPoll

    class Answer:
        def poll(self, targets: list[WatchTarget]) -> dict[str, object]:
            return {}

    SharedPoll(Answer(), cl.Profile(name="x", scheduler="slurm"), 1.0).poll(  # type: ignore[arg-type]
        [WatchTarget("1", "/d")]
    )
    assert ledger.path().stat().st_mode & 0o777 == 0o600
