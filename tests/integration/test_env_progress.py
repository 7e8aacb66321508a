"""Progress while a synced environment builds (issue 13): the steps are published as
events, the notebook bar and the lab panel's comm (``env.event``) show them, and a failed
build says so. Real builds on the local profile (a venv of this Python, pip, wheels from
this machine); only the lock is chosen (cloudpickle alone), to keep the build short."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.core.environment import buildevents as envevents
from clusterlab.core.environment import sync as envsync
from clusterlab.ui.comm import CommHandler
from clusterlab.ui.widgets.environment_bar import EnvBars
from tests.unit.test_comm import RecordingComm

pytestmark = pytest.mark.timeout(240)


def small_lock(extra: dict[str, tuple[str, str]] | None = None) -> envsync.Lock:
    lock = envsync.Lock(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    lock.pins["cloudpickle"] = ("cloudpickle", __import__("cloudpickle").__version__)
    lock.pins.update(extra or {})
    return lock


@pytest.fixture
def watchers() -> Iterator[tuple[EnvBars, list[envevents.EnvEvent], CommHandler, RecordingComm]]:
    """What a kernel has: the notebook's bars (not displayed here), a recorder of every
    event, and a comm handler as the lab panel's kernel side."""
    seen: list[envevents.EnvEvent] = []
    bars = EnvBars(show=False)
    stop = envevents.subscribe(seen.append)
    comm = RecordingComm()
    handler = CommHandler(comm)
    yield bars, seen, handler, comm
    handler.close()
    stop()
    bars.unsubscribe()


def env_events(comm: RecordingComm) -> list[dict[str, Any]]:
    return [e for m in comm.sent if m["type"] == "env.event" for e in m["data"]["events"]]


def test_a_build_shows_its_steps_in_the_bar_and_the_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watchers: Any
) -> None:
    bars, seen, _, comm = watchers
    monkeypatch.setattr(envsync, "make_lock", small_lock)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    cl.profiles.save(
        cl.Profile(name="envp", scheduler="local", environment="sync", remote_dir=str(tmp_path))
    )
    assert cl.cluster("envp")(abs)(-3) == 3  # ran in the synced env
    digest = small_lock().digest()
    assert [e.phase for e in seen] == ["lock", "wheels", "upload", "install", "ready"]
    assert {(e.profile, e.env) for e in seen} == {("envp", digest)}
    assert [e.done for e in seen] == [0, 1, 2, 3, 5] and seen[-1].total == 5
    assert "installing 1 packages with venv + pip" in seen[3].message
    bar = bars.bars[("envp", digest)]
    deadline = time.time() + 10
    while "ready" not in bar.label.value:  # the bar's own thread draws the last step
        assert time.time() < deadline, bar.label.value
        time.sleep(0.05)
    assert bar.bar.value == bar.bar.max == 5 and bar.bar.bar_style == "success"
    assert digest in bar.label.value
    comm.wait_for(
        lambda m: m["type"] == "env.event" and m["data"]["events"][-1]["phase"] == "ready"
    )
    last = env_events(comm)[-1]
    assert last["profile"] == "envp" and last["env"] == digest and last["done"] == 5
    assert envevents.in_progress() == []
    # the same lock again: found ready, no build, no events
    seen.clear()
    assert cl.cluster("envp")(abs)(-4) == 4
    assert seen == []


def test_a_failed_build_says_so_in_the_bar_and_the_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watchers: Any
) -> None:
    bars, seen, _, comm = watchers
    lock = small_lock({"no-such-dist": ("no-such-dist", "1.0")})
    monkeypatch.setattr(envsync, "make_lock", lambda: lock)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    cl.profiles.save(
        cl.Profile(name="envf", scheduler="local", environment="sync", remote_dir=str(tmp_path))
    )
    job = cl.cluster("envf")(abs).submit(-1)  # a profile that cannot work: a FAILED job
    with pytest.raises(cl.RemoteEnvironmentError, match="no wheel of no-such-dist==1.0"):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
    assert [e.phase for e in seen] == ["lock", "wheels", "failed"]
    assert "no wheel of no-such-dist==1.0" in seen[-1].message
    bar = bars.bars[("envf", lock.digest())]
    deadline = time.time() + 10
    while not (bar.bar.bar_style == "danger" and "failed" in bar.label.value):
        assert time.time() < deadline, bar.label.value
        time.sleep(0.05)
    comm.wait_for(
        lambda m: m["type"] == "env.event" and m["data"]["events"][-1]["phase"] == "failed"
    )
    assert envevents.in_progress() == []
