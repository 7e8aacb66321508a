from __future__ import annotations

import json

from clusterlab.backends.base import Observation
from clusterlab.common.states import JobState
from clusterlab.core.settle import MISSING_POLLS_BEFORE_LOST, decide, parse_status


def status(*events: dict[str, object]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


STARTED = {"event": "started", "time": 1.0, "host": "node7"}


def test_status_file_wins_over_the_queue() -> None:
    s = parse_status(status(STARTED, {"event": "finished", "time": 2.0, "outcome": "ok"}))
    for sched in (JobState.RUNNING, None, JobState.COMPLETED, JobState.CANCELLED):
        assert decide(JobState.RUNNING, Observation(sched), s, 0).state == JobState.COMPLETED


def test_torn_last_line_is_ignored() -> None:
    s = parse_status(status(STARTED) + b'{"event": "fini')
    assert s.started == 1.0 and s.finished is None and s.host == "node7"


def test_pending_and_running_with_reasons() -> None:
    d = decide(
        JobState.PENDING,
        Observation(JobState.PENDING, "waiting for resources"),
        parse_status(None),
        0,
    )
    assert (d.state, d.reason) == (JobState.PENDING, "waiting for resources")
    d = decide(JobState.PENDING, Observation(JobState.RUNNING), parse_status(status(STARTED)), 0)
    assert (d.state, d.reason) == (JobState.RUNNING, "running on node7")


def test_timeout_oom_cancel() -> None:
    none = parse_status(None)
    d = decide(
        JobState.RUNNING, Observation(JobState.TIMEOUT, raw="TIMEOUT TimeLimit"), none, 0, 60
    )
    assert d.state == JobState.TIMEOUT and "time limit (00:01:00)" in d.reason
    d = decide(
        JobState.RUNNING, Observation(JobState.FAILED, raw="OUT_OF_MEMORY OutOfMemory"), none, 0
    )
    assert d.state == JobState.FAILED and d.reason.startswith("out of memory")
    d = decide(JobState.RUNNING, Observation(JobState.CANCELLED), none, 0)
    assert d.state == JobState.CANCELLED


def test_job_gone_from_queue_is_lost_after_grace_not_running_forever() -> None:
    s = parse_status(status(STARTED))
    missing = 0
    for _ in range(MISSING_POLLS_BEFORE_LOST - 1):
        d = decide(JobState.RUNNING, Observation(None), s, missing)
        assert d.state == JobState.RUNNING
        missing = d.missing_polls
    d = decide(JobState.RUNNING, Observation(None), s, missing)
    assert d.state == JobState.LOST and "left the queue" in d.reason


def test_missing_python_is_explained() -> None:
    s = parse_status(status({"event": "finished", "outcome": "no_python"}))
    d = decide(JobState.RUNNING, Observation(JobState.FAILED), s, 0)
    assert d.state == JobState.FAILED and "python command was not found" in d.reason
