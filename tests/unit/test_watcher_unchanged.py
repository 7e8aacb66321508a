"""The watcher skips what did not change since its last poll, and only that.

A real Runtime (SLURM profile, local transport, a private ledger) watches 200 jobs and a
200-item array; the backend's poll replays recorded observations (the scheduler is not
what is tested). Events are counted with the public event bus.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.backends.base import Observation, WatchTarget
from clusterlab.common.states import JobState
from clusterlab.config.resources import parse_resources
from clusterlab.core.ledger import records
from clusterlab.core.ledger import store as ledger
from clusterlab.core.model import events
from clusterlab.core.model.array import ArrayJob, ArrayPart
from clusterlab.core.model.job import Job
from clusterlab.core.model.plan import Plan
from clusterlab.core.runtime import Runtime

STARTED = b'{"event": "started", "time": 1700000000.0, "host": "node1", "pid": 42}\n'
N = 200


class Replay:
    """Answers every poll with ``self.answer(target)``."""

    def __init__(self) -> None:
        self.answer: Any = lambda t: Observation(JobState.PENDING, "waiting for resources")

    def __call__(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        return {t.native_id: self.answer(t) for t in targets}


@pytest.fixture
def seen() -> Iterator[list[events.JobEvent]]:
    got: list[events.JobEvent] = []
    stop = events.subscribe(got.append)
    yield got
    stop()


def _runtime(tmp_path: Path) -> tuple[Runtime, Replay]:
    runtime = Runtime(cl.Profile(name="wu", scheduler="slurm", remote_dir=str(tmp_path)))
    runtime.watcher.shared = None
    replay = Replay()
    runtime.backend.poll = replay  # type: ignore[method-assign]
    return runtime, replay


def test_single_jobs(tmp_path: Path, seen: list[events.JobEvent], monkeypatch: Any) -> None:
    runtime, replay = _runtime(tmp_path)
    res = parse_resources({"cores": 1})
    jobs = [Job(runtime, f"j{i}", "nap", str(100 + i), f"{tmp_path}/j{i}", res) for i in range(N)]
    records.record_jobs(runtime.profile, jobs)
    poll = runtime.watcher.poll_once
    assert poll(list(jobs))  # type: ignore[arg-type]
    assert {(j.state, j.reason) for j in jobs} == {(JobState.PENDING, "waiting for resources")}
    replay.answer = lambda t: Observation(JobState.RUNNING, raw="R", status=STARTED)
    assert poll(list(jobs))  # type: ignore[arg-type]
    assert {(j.state, j.reason) for j in jobs} == {(JobState.RUNNING, "running on node1")}
    assert ledger.get("j7").state == "RUNNING"  # type: ignore[union-attr]
    before = len(seen)
    assert not poll(list(jobs))  # type: ignore[arg-type]
    assert len(seen) == before  # nothing new: no event, nothing written
    # A job the user cancelled meanwhile is not "seen as before".
    jobs[0].set_state(JobState.CANCELLED, "cancelled by you")
    jobs[0].cancel_future()
    poll(list(jobs))  # type: ignore[arg-type]
    assert jobs[0].state == JobState.CANCELLED
    # Gone from the queue with no final status: decided at every poll, lost after grace.
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "0")
    replay.answer = lambda t: Observation(None, status=STARTED)
    for _ in range(3):
        poll([j for j in jobs if not j.done()])  # type: ignore[misc]
    assert {j.state for j in jobs[1:]} == {JobState.LOST}


def test_array_items(tmp_path: Path, seen: list[events.JobEvent]) -> None:
    runtime, replay = _runtime(tmp_path)
    res = parse_resources({"cores": 1})
    array = ArrayJob(runtime, "a1", "nap", N, Plan(N, N // 2, 2))
    part = ArrayPart(array, "900", f"{tmp_path}/a1", [[2 * t, 2 * t + 1] for t in range(N // 2)])
    for t, items in enumerate(part.task_items):
        for i in items:
            array.elements.append(part.new_item(runtime, i, t, res, []))
    array.parts.append(part)
    runtime.arrays[array.id] = array
    records.record_array(runtime.profile, array, list(range(N)), res, [])
    first_item = b'{"event": "item-started", "index": %d, "time": 1700000001.0}\n'

    def running(t: WatchTarget) -> Observation:
        tasks = {
            k: Observation(JobState.RUNNING, raw="R", status=STARTED + first_item % (2 * k))
            for k in range(N // 2)
        }
        return Observation(None, tasks=tasks)

    replay.answer = running
    poll = runtime.watcher.poll_once
    assert poll([part])
    assert [j.state for j in array.elements[:2]] == [JobState.RUNNING, JobState.PENDING]
    assert array.elements[1].reason == "waiting for earlier items of its task"
    before = len(seen)
    assert not poll([part])
    assert len(seen) == before
    second = b'{"event": "item-started", "index": %d, "time": 1700000002.0}\n' % 1
    tasks = running(WatchTarget("900", ""))
    tasks.tasks[0].status = (tasks.tasks[0].status or b"") + second  # task 0 moves on
    replay.answer = lambda t: tasks
    assert poll([part])
    assert array.elements[1].state == JobState.RUNNING
    assert len(seen) == before + 1  # only the item that changed


def test_a_growing_task_file_is_parsed_a_line_at_a_time(tmp_path: Path) -> None:
    """An array task's status file grows by lines between polls: the watcher folds in the
    new lines only (it parsed the whole file again at each change, a third of a 100,000-item
    map's kernel CPU), and the items still move as their lines say, a half-written line
    waiting for its end."""
    runtime, replay = _runtime(tmp_path)
    res = parse_resources({"cores": 1})
    n = 20
    array = ArrayJob(runtime, "g1", "nap", n, Plan(n, 1, n))
    part = ArrayPart(array, "901", f"{tmp_path}/g1", [list(range(n))])
    array.elements.extend(part.new_item(runtime, i, 0, res, []) for i in range(n))
    array.parts.append(part)
    runtime.arrays[array.id] = array
    records.record_array(runtime.profile, array, list(range(n)), res, [])
    line = b'{"event": "item-started", "index": %d, "time": 1700000001.0}\n'
    status = STARTED
    for k in range(n):
        status += line % k
        torn = status + (line % (k + 1))[:20] if k + 1 < n else status
        for data in (torn, status, torn):  # a poll mid-write, its end, as it was
            obs = Observation(JobState.RUNNING, raw="R", status=data)
            replay.answer = lambda t, obs=obs: Observation(None, tasks={0: obs})
            runtime.watcher.poll_once([part])
            assert array.elements[k].state == JobState.RUNNING
            assert k + 1 == n or array.elements[k + 1].state == JobState.PENDING
    growing = runtime.watcher._parsed[part.watch_key][0]
    assert growing.parsed_bytes == len(status) + 2 * 20 * (n - 1)  # (+ the torn lines')
