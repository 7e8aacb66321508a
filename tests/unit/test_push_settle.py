"""How a pushed status file is combined with the scheduler's last view (core/watching/agentlink.py),
then decided by the same rules as a poll (core/model/settle.py)."""

from __future__ import annotations

from typing import Any

from clusterlab.backends.base import Observation
from clusterlab.common.jobdir import parse_status
from clusterlab.common.states import JobState
from clusterlab.core.model.array import ArrayPart
from clusterlab.core.model.settle import PRESENT, decide
from clusterlab.core.watching.agentstatus import pushed_observation

STARTED = b'{"event": "started", "time": 1.0, "host": "node1", "pid": 7}\n'
FINISHED = b'{"event": "finished", "time": 2.0, "outcome": "ok"}\n'


class _Single:  # anything that is not an ArrayPart is watched as one job
    pass


def _state(obs: Observation) -> tuple[JobState, str]:
    d = decide(JobState.PENDING, obs, parse_status(obs.status), PRESENT)
    return d.state, d.reason


def test_a_pushed_start_makes_a_pending_job_run_without_counting_as_a_missed_poll() -> None:
    pending = Observation(JobState.PENDING, "waiting for resources")
    for last in (pending, None, Observation(None)):
        obs = pushed_observation(_Single(), last, {"status": STARTED})  # type: ignore[arg-type]
        assert _state(obs) == (JobState.RUNNING, "running on node1")
        d = decide(JobState.PENDING, obs, parse_status(obs.status), PRESENT)
        assert d.absence == PRESENT  # never a step towards LOST


def test_a_pushed_end_settles_at_once_whatever_the_scheduler_last_said() -> None:
    running = Observation(JobState.RUNNING)
    obs = pushed_observation(_Single(), running, {"status": STARTED + FINISHED})  # type: ignore[arg-type]
    assert _state(obs) == (JobState.COMPLETED, "")


def test_the_schedulers_own_verdict_is_kept() -> None:
    cancelled = Observation(JobState.CANCELLED, "cancelled by an administrator")
    obs = pushed_observation(_Single(), cancelled, {"status": STARTED})  # type: ignore[arg-type]
    assert _state(obs) == (JobState.CANCELLED, "cancelled by an administrator")


def test_an_array_task_push_leaves_the_other_tasks_as_the_scheduler_saw_them() -> None:
    part: Any = ArrayPart(array=None, native_id="5", job_dir="/j", task_items=[[0], [1], [2]])  # type: ignore[arg-type]
    last = Observation(
        JobState.PENDING,
        tasks={
            0: Observation(JobState.RUNNING, status=STARTED),
            2: Observation(JobState.PENDING, "waiting for resources"),
        },
    )
    obs = pushed_observation(part, last, {"status.1": STARTED + FINISHED, "status": b"x"})
    assert obs.tasks[0].status == STARTED  # untouched
    assert obs.tasks[1].status == STARTED + FINISHED
    assert obs.tasks[1].state == JobState.RUNNING  # listed nowhere before: it ran
    assert obs.tasks[2].reason == "waiting for resources"
    assert 1 not in last.tasks  # the last scheduler view itself is left as it was
