"""The machine-wide poll lease (core/watching/sharedpoll.py) on real SQLite ledger files.

The watchers here are SharedPoll objects of one process standing in for kernels (each has
its own token, as each kernel would); the scheduler is a recorded backend that counts the
round trips it is asked for, since what is tested is who asks, not what SLURM answers (the
real-process tests with SLURM are in tests/integration/test_shared_poll_slurm.py).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.backends.base import Observation, WatchTarget
from clusterlab.common.states import Cause, JobState
from clusterlab.core.watching import pollstore
from clusterlab.core.watching.pollstore import cluster_key, decode, encode
from clusterlab.core.watching.sharedpoll import SharedPoll


class RecordedBackend:
    """Answers every poll with RUNNING and a status line, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        self.asked.append(sorted(t.native_id for t in targets))
        return {
            t.native_id: Observation(JobState.RUNNING, status=b'{"event": "started"}\n')
            for t in targets
        }


PROFILE = cl.Profile(name="a", scheduler="slurm", host="login", user="me")


def watcher(max_interval: float = 1.0) -> tuple[SharedPoll, RecordedBackend]:
    backend = RecordedBackend()
    return SharedPoll(backend, PROFILE, max_interval), backend  # type: ignore[arg-type]


def t(native: str) -> WatchTarget:
    return WatchTarget(native, f"/jobs/{native}")


def test_one_watcher_polls_for_everyone_and_the_others_read() -> None:
    a, a_backend = watcher()
    b, b_backend = watcher()
    assert set(a.poll([t("1")])) == {"1"}
    assert a.holding
    # b registered 2 but nobody has polled it yet: nothing to say (the watcher waits).
    assert b.poll([t("2")]) == {}
    assert not b.holding
    assert set(a.poll([t("1")])) == {"1"}  # a polls the union, returns its own
    assert a_backend.asked[-1] == ["1", "2"]
    assert a.news  # someone else's target arrived: a keeps its interval short
    seen = b.poll([t("2")])
    assert seen["2"].state == JobState.RUNNING
    assert seen["2"].status == b'{"event": "started"}\n'
    assert b_backend.asked == []  # b never asked the scheduler
    assert (a.scheduler_polls, b.scheduler_polls, b.shared_reads) == (2, 0, 2)


def test_release_hands_the_lease_on_at_once() -> None:
    a, _ = watcher()
    b, b_backend = watcher()
    a.poll([t("1")])
    b.poll([t("2")])
    a.release()
    assert b.poll([t("2")])["2"].state == JobState.RUNNING
    assert b.holding and b_backend.asked == [["2"]]  # a's target left with a


def test_a_dead_holder_loses_the_lease_before_it_expires() -> None:
    a, _ = watcher(max_interval=60.0)  # its lease would last two minutes
    a.poll([t("1")])
    dead = subprocess.Popen(["true"])
    dead.wait()
    conn = pollstore.conn()
    conn.execute("UPDATE poll_leases SET pid=?", (dead.pid,))
    conn.execute("UPDATE poll_watchers SET pid=? WHERE token=?", (dead.pid, a.token))
    b, b_backend = watcher()
    assert b.poll([t("2")])["2"].state == JobState.RUNNING
    assert b.holding
    assert b_backend.asked == [["2"]]  # the dead watcher's targets are not polled


def test_an_expired_lease_is_taken_even_if_its_holder_lives() -> None:
    a, a_backend = watcher()
    a.poll([t("1")])
    conn = pollstore.conn()
    conn.execute("UPDATE poll_leases SET expires=?", (time.time() - 1,))  # a hung
    b, _ = watcher()
    b.poll([t("2")])
    assert b.holding
    a.poll([t("1")])  # a wakes up: it reads now, it does not poll too
    assert not a.holding and len(a_backend.asked) == 1


def test_a_target_the_holder_never_sees_is_polled_by_its_own_watcher() -> None:
    a, _ = watcher(max_interval=60.0)
    b, b_backend = watcher(max_interval=0.05)  # b's lease lifetime: 1.1 s
    a.poll([t("1")])
    assert b.poll([t("2")]) == {}
    b._unseen_since["2"] -= 2.0  # two seconds later, a still has not polled (long interval)
    assert b.poll([t("2")])["2"].state == JobState.RUNNING
    assert b_backend.asked == [["2"]]


def test_readers_poll_themselves_while_the_holder_publishes_nothing() -> None:
    """The holder lives and keeps its lease but its polls fail (say the login node is
    down): its data goes stale, and then every reader asks the scheduler itself, so each
    kernel sees the failure instead of an old state for ever."""
    a, _ = watcher()
    b, b_backend = watcher()
    a.poll([t("1")])
    b.poll([t("2")])
    a.poll([t("1")])
    assert "2" in b.poll([t("2")]) and b_backend.asked == []
    conn = pollstore.conn()
    conn.execute("UPDATE poll_leases SET polled_at=polled_at-10")  # a: 10 s of failures
    assert b.poll([t("2")])["2"].state == JobState.RUNNING
    assert b_backend.asked == [["2"]] and not b.holding


def test_observations_survive_the_trip_through_sqlite() -> None:
    obs = Observation(
        None,
        reason="why",
        raw="CD None",
        status=b"\xff\x00 not utf-8\n",
        cause=Cause.OUT_OF_MEMORY,
        dir_missing=True,
        tasks={3: Observation(JobState.PENDING, status=b"x"), 4: Observation(None)},
    )
    assert decode(encode(obs)) == obs


def test_the_cluster_key_ignores_the_profile_name_only() -> None:
    same = cl.Profile(name="other-name", scheduler="slurm", host="login", user="me")
    assert cluster_key(same) == cluster_key(PROFILE)
    for change in ({"user": "you"}, {"host": "elsewhere"}, {"remote_dir": "/scratch/x"}):
        fields: dict[str, Any] = {"name": "a", "scheduler": "slurm", "host": "login", "user": "me"}
        assert cluster_key(cl.Profile(**{**fields, **change})) != cluster_key(PROFILE)


def test_sharing_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from clusterlab.backends import make_backend
    from clusterlab.transports import get_transport

    backend = make_backend(PROFILE, get_transport(PROFILE))
    assert pollstore.shareable(backend)
    monkeypatch.setenv(pollstore.DISABLE_ENV, "0")
    assert not pollstore.shareable(backend)


def test_release_at_exit_leaves_other_data_dirs_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watcher still registered when the interpreter exits releases its lease in the
    ledger it registered in; if the data dir changed meanwhile (tests switch them) it
    touches nothing, rather than creating a ledger in a directory that is not its own."""
    a, _ = watcher()
    a.poll([t("1")])
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("CLUSTERLAB_DATA_DIR", str(elsewhere))
    a.release()
    assert not elsewhere.exists()


@pytest.mark.parametrize(
    "row",
    [
        {"s": "SUSPENDED"},  # a state a newer clusterlab added
        {"v": 1, "s": "RUNNING", "c": "quota_exceeded"},  # a cause it added
        {"v": 2, "s": "RUNNING", "x": {"new": "layout"}},  # a newer row version
        ["not", "an", "object"],
    ],
)
def test_rows_this_version_cannot_read_make_it_poll_those_jobs_alone(
    row: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newer clusterlab's kernel holds the lease and writes rows an older one cannot
    decode: the older kernel's poll raised for ever ("cannot reach the scheduler,
    retrying"). Now it polls those jobs itself and says why, once."""
    import json

    a, _ = watcher()
    b, b_backend = watcher()
    a.poll([t("1")])
    b.poll([t("2"), t("3")])
    a.poll([t("1")])  # publishes 2 and 3 for b
    conn = pollstore.conn()
    with conn:
        conn.execute(
            "UPDATE poll_seen SET obs=?, observed=observed+1 WHERE native_id='2'",
            (json.dumps(row),),
        )
    seen = b.poll([t("2"), t("3")])
    assert seen["2"].state == JobState.RUNNING and seen["3"].state == JobState.RUNNING
    assert b_backend.asked == [["2"]]  # only the unreadable one, by b itself
    assert "polls those jobs on its own" in capsys.readouterr().err
    b.poll([t("2"), t("3")])
    assert "polls those jobs on its own" not in capsys.readouterr().err  # said once
