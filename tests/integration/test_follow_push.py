"""Live output pushed through the status agent (issue 30 item 5), on the real sandbox over
SSH: a followed job's output arrives in order, complete and once; the follow costs the
watcher a few round trips however many lines come, where polling costs one per line seen;
a job printing more than the agent's per-job cap still gives all of its output.

Causal, not timed: the job prints line i, then waits until the test has SEEN it (the test
creates ``go.i``), so the polled follow must read at least once per line.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from tests.conftest import round_trips_of, slurm_local_profile, ssh_profile

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("no_other_agents")]
LINES = 20


def _lockstep(shared: str, lines: int) -> int:
    import os

    for i in range(lines):
        print(f"line {i}", flush=True)
        for _ in range(1200):  # until the notebook saw it (at most 2 minutes)
            if os.path.exists(f"{shared}/go.{i}"):
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"nobody saw line {i} while the job ran")
    return lines


def _follow_in_lockstep(
    profile: cl.Profile, shared: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, int]:
    """Follow a lockstep job to its end: (what came, the watcher's round trips)."""
    runtime = get_runtime(profile)
    trips = round_trips_of(runtime.transport, "clusterlab-watch-", monkeypatch)
    job = cl.cluster(profile.name)(_lockstep).submit(shared, LINES)
    got = ""
    for text in job.stdout(follow=True):
        got += text
        for i in range(LINES):
            if f"line {i}\n" in got:
                open(f"{shared}/go.{i}", "a").close()
    assert job.result(timeout=60) == LINES
    return got, len(trips)


@pytest.mark.parametrize("where", ["slurm-ssh", "slurm-local"])
def test_followed_output_is_pushed_in_order_once_with_few_round_trips(
    sandbox: object,
    lockstep_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    where: str,
) -> None:
    """Over SSH (the agent on an exec channel) and on the login node (a subprocess)."""
    if where == "slurm-ssh":
        pushed = ssh_profile(sandbox, name="followpush", poll_interval=30.0)
    else:
        local = slurm_local_profile(tmp_path, name="followpush")
        pushed = dataclasses.replace(local, poll_interval=30.0)
    cl.profiles.save(pushed)
    got, pushed_trips = _follow_in_lockstep(pushed, lockstep_dir, monkeypatch)
    assert got == "".join(f"line {i}\n" for i in range(LINES))  # in order, complete, once
    assert pushed_trips <= 6, f"{pushed_trips} watcher round trips for {LINES} lines"
    assert get_runtime(pushed).push.shared.logs.log_bytes >= len(got)  # pushed, not read

    monkeypatch.setenv("CLUSTERLAB_PUSH", "0")  # the polling path, for comparison
    polled = dataclasses.replace(pushed, name="followpoll")
    cl.profiles.save(polled)
    other = tempfile.mkdtemp(prefix="go-", dir=lockstep_dir)
    os.chmod(other, 0o755)  # noqa: S103
    got_polled, polled_trips = _follow_in_lockstep(polled, other, monkeypatch)
    assert got_polled == got
    print(
        f"watcher round trips following {LINES} lines: pushed {pushed_trips}, polled {polled_trips}"
    )
    assert polled_trips >= LINES  # a read per line seen, at least


def _loud(kib: int) -> int:
    import sys

    line = "y" * 99 + "\n"
    for i in range(kib * 1024 // 100):
        sys.stdout.write(f"{i:08d}" + line[8:])
    sys.stdout.flush()
    return kib


def test_output_past_the_agents_cap_is_all_there(
    sandbox: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """600 KiB at once, ~10x the agent's per-job cap a second: the agent pushes up to its
    cap and pauses, the watcher reads the rest; every line once, in order."""
    profile = ssh_profile(sandbox, name="followloud", poll_interval=30.0)
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(_loud).submit(600)
    got = "".join(job.stdout(follow=True))
    assert job.result(timeout=60) == 600
    lines = got.splitlines()
    assert len(lines) == 600 * 1024 // 100
    assert [int(line[:8]) for line in lines] == list(range(len(lines)))
    pushed = get_runtime(profile).push.shared.logs.log_bytes
    print(f"{len(got)} bytes followed, {pushed} of them pushed, the rest read")
