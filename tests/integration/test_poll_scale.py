"""Polls of many jobs over real SSH (found measuring issue 14): the poll put every job dir
on its command line, so with ~2,500 watched jobs the exec request passed sshd's 256 KB
packet limit, sshd dropped the whole connection ("Bad packet length") and every
submission in flight on it failed."""

from __future__ import annotations

from typing import Any

import pytest

import clusterlab as cl
from clusterlab.backends.base import WatchTarget
from clusterlab.core.runtime import get_runtime
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(120)


def test_a_poll_of_5000_jobs_over_ssh_is_one_round_trip_and_keeps_the_connection(
    sandbox: Any,
) -> None:
    profile = ssh_profile(sandbox, name="pollscale")
    cl.profiles.save(profile)
    runtime = get_runtime(profile)
    root = f"{sandbox.user_home}/.clusterlab/jobs"
    targets = [
        WatchTarget(str(900_000_000 + i), f"{root}/20261130-000000-{i:06d}-{'d' * 48}")
        for i in range(5000)
    ]
    transport = runtime.transport
    runtime.backend.poll(targets[:1])  # connected; asked once whether SLURM keeps accounting

    def connection() -> object:  # the paramiko connection, or the ssh master's pid
        login = getattr(transport, "login", None)
        return login.state().pid if login else transport._transport()  # type: ignore[attr-defined]

    before_connection = connection()
    before = transport.round_trips
    # with accounting (the sandbox has slurmdbd) jobs gone without a status line are asked
    # of sacct: one more round trip, only then
    accounting = runtime.backend.history_argv(["1"]) is not None
    before = transport.round_trips
    seen = runtime.backend.poll(targets)
    assert transport.round_trips - before == 1 + accounting  # squeue and 5,000 dirs together
    assert len(seen) == 5000
    assert all(o.state is None and o.dir_missing for o in seen.values())  # none exists
    assert connection() == before_connection  # the same connection, never dropped
