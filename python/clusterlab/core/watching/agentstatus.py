"""A pushed status line as an observation: what the status agent streams
(:mod:`.agentlink`) combined with the scheduler's last view, so it settles through the same
rules a poll does."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from ...backends.base import Observation
from ...backends.statusdump import INLINE, LOG_SIZES
from ...common import jobdir
from ...common.states import JobState
from ..model.array import ArrayPart

if TYPE_CHECKING:
    from .watcher import Unit

_NOT_YET = (None, JobState.PENDING, JobState.COMPLETED)
"""Scheduler views that a status file with lines in it overrides to RUNNING: the job has
started (or ran) and its file speaks for it; a pushed line must not count as a poll that
missed the job."""


def pushed_observation(
    unit: Unit, last: Observation | None, statuses: dict[str, bytes]
) -> Observation:
    """The last scheduler view of ``unit`` with its status files replaced by what the
    agent pushed (``{"status" | "status.N": whole file so far}``)."""
    if not isinstance(unit, ArrayPart):
        base = last or Observation(None)
        state = JobState.RUNNING if base.state in _NOT_YET else base.state
        status = statuses.get(jobdir.STATUS, base.status)
        return replace(
            base,
            state=state,
            status=status,
            result=statuses.get(INLINE) or None,
            log_sizes=_sizes(statuses.get(LOG_SIZES)),
        )
    base = last or Observation(JobState.PENDING)
    tasks = dict(base.tasks)
    for name, data in statuses.items():
        task = jobdir.task_of_status_file(name)
        if task is None:
            continue
        seen = tasks.get(task) or base.unlisted_task()
        state = JobState.RUNNING if seen.state in _NOT_YET else seen.state
        tasks[task] = replace(seen, state=state, status=data)
    return replace(base, tasks=tasks)


def _sizes(data: bytes | None) -> dict[str, int] | None:
    """The job's log sizes the agent pushed with its end, or None (not pushed)."""
    try:
        sizes = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(sizes, dict):
        return None
    return {str(k): v for k, v in sizes.items() if type(v) is int and v >= 0}
