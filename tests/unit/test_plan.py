"""The map plan and the pool's per-item states: pure rules, no cluster needed."""

from __future__ import annotations

import json

import pytest

from clusterlab.backends.base import Observation
from clusterlab.common.jobdir import StatusInfo, parse_status
from clusterlab.common.states import JobState
from clusterlab.core.model.plan import make_plan
from clusterlab.core.model.settle import GONE, PRESENT
from clusterlab.core.watching.workerpool import Worker, decide_pool_item


def test_automatic_plan_runs_one_wave_on_the_free_slots() -> None:
    plan = make_plan(1000, capacity=16)
    assert (plan.tasks, plan.chunksize) == (16, 63)
    assert plan.describe() == "1,000 items in 16 tasks of ~63"
    assert sum(len(s) for s in plan.shares()) == 1000 and len(plan.shares()) == 16


def test_max_concurrent_and_array_limit_bound_the_automatic_plan() -> None:
    assert make_plan(200, max_concurrent=5, capacity=64).describe() == "200 items in 5 tasks of 40"
    assert make_plan(10, capacity=64).describe() == "10 items in 10 tasks of 1"
    assert make_plan(5000, capacity=10_000, max_tasks=1001).tasks <= 1001
    assert make_plan(100).tasks == 16  # the scheduler did not say: a modest default


def test_user_overrides() -> None:
    assert make_plan(10, chunksize=4).describe() == "10 items in 3 tasks of 4"
    assert make_plan(10, chunksize=1, capacity=2).tasks == 10
    pool = make_plan(28, workers=4)
    assert pool.pool and pool.describe() == "28 items pulled by 4 workers"
    assert make_plan(3, workers=8).tasks == 3  # no idle workers
    with pytest.raises(ValueError, match="exclude each other"):
        make_plan(3, chunksize=1, workers=1)
    with pytest.raises(ValueError, match="chunksize must be at least 1"):
        make_plan(3, chunksize=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        make_plan(3, workers=0)


def _status(*events: dict[str, object]) -> StatusInfo:
    return parse_status(b"".join(json.dumps(e).encode() + b"\n" for e in events))


RUNNING = Observation(JobState.RUNNING)
STARTED = {"event": "started", "time": 1.0, "host": "n1", "pid": 7}


def test_pool_item_runs_on_whichever_worker_took_it() -> None:
    workers = {
        0: Worker(RUNNING, _status(STARTED)),
        1: Worker(RUNNING, _status(STARTED, {"event": "item-started", "index": 3, "time": 2})),
    }
    assert decide_pool_item(JobState.PENDING, 3, workers, PRESENT).state == JobState.RUNNING
    waiting = decide_pool_item(JobState.PENDING, 4, workers, PRESENT)
    assert (waiting.state, waiting.reason) == (
        JobState.PENDING,
        "queued: waiting for a free worker",
    )


def test_a_stopped_workers_item_waits_for_its_retry_then_is_lost() -> None:
    stopped = _status(
        STARTED, {"event": "item-started", "index": 3, "time": 2}, {"event": "stopped"}
    )
    alive = Worker(RUNNING, _status(STARTED))
    gone = Worker(Observation(JobState.CANCELLED), stopped)
    d = decide_pool_item(JobState.RUNNING, 3, {0: gone, 1: alive}, PRESENT)
    assert d.state == JobState.PENDING and "an idle worker will retry it" in d.reason
    lone = {0: Worker(Observation(None), stopped)}
    d = decide_pool_item(JobState.RUNNING, 3, lone, GONE)
    assert d.state == JobState.LOST and "no worker was left to retry it" in d.reason


def test_the_retry_wins_over_the_first_attempt() -> None:
    first = _status(STARTED, {"event": "item-started", "index": 3, "time": 2}, {"event": "stopped"})
    retry = _status(STARTED, {"event": "item-started", "index": 3, "time": 5, "attempt": 2})
    workers = {0: Worker(Observation(None), first), 1: Worker(RUNNING, retry)}
    assert decide_pool_item(JobState.PENDING, 3, workers, PRESENT).state == JobState.RUNNING


def test_a_pool_whose_workers_cannot_start_python_fails_its_items() -> None:
    broken = _status({"event": "finished", "outcome": "env_error", "message": "no cloudpickle"})
    d = decide_pool_item(JobState.PENDING, 0, {0: Worker(Observation(None), broken)}, PRESENT)
    assert d.state == JobState.FAILED and d.reason == "no cloudpickle"


def test_an_empty_map_has_a_plan_that_says_so() -> None:
    for plan in (make_plan(0), make_plan(0, workers=3), make_plan(0, chunksize=2)):
        assert plan.describe() == "no items" and plan.shares() == []
