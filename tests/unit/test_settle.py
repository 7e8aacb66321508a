from __future__ import annotations

import json

from clusterlab.backends.base import Observation
from clusterlab.common.jobdir import parse_status
from clusterlab.common.states import Cause, JobState
from clusterlab.core.settle import DEPENDENCY_FAILED, MISSING_POLLS_BEFORE_LOST, decide


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
    timeout = Observation(JobState.TIMEOUT, cause=Cause.TIME_LIMIT)
    d = decide(JobState.RUNNING, timeout, none, 0, 60)
    assert d.state == JobState.TIMEOUT and "time limit (00:01:00)" in d.reason
    oom = Observation(JobState.FAILED, raw="whatever the scheduler says", cause=Cause.OUT_OF_MEMORY)
    d = decide(JobState.RUNNING, oom, none, 0)
    assert d.state == JobState.FAILED and d.reason.startswith("out of memory")
    d = decide(JobState.RUNNING, Observation(JobState.CANCELLED), none, 0)
    assert d.state == JobState.CANCELLED


def test_causes_not_raw_codes_decide() -> None:
    """The settle rules read neutral causes: a scheduler's raw code alone changes nothing,
    and every scheduler's dependency failure ends the job instead of pending forever."""
    none = parse_status(None)
    raw_only = Observation(JobState.PENDING, "waits", raw="PENDING DependencyNeverSatisfied")
    assert decide(JobState.PENDING, raw_only, none, 0).state == JobState.PENDING
    never = Observation(JobState.PENDING, "waits", cause=Cause.DEPENDENCY_NEVER_SATISFIED)
    d = decide(JobState.PENDING, never, none, 0)
    assert (d.state, d.reason, d.cancel) == (JobState.CANCELLED, DEPENDENCY_FAILED, True)
    for cause, words in [(Cause.NODE_FAILURE, "node"), (Cause.PREEMPTED, "preempted")]:
        d = decide(JobState.RUNNING, Observation(JobState.FAILED, cause=cause), none, 0)
        assert d.state == JobState.FAILED and words in d.reason


def test_slurm_codes_map_to_causes() -> None:
    from clusterlab.backends.slurm import SlurmBackend

    obs = SlurmBackend._observation  # state and reason codes as squeue prints them
    backend = SlurmBackend.__new__(SlurmBackend)
    assert obs(backend, "OUT_OF_MEMORY", "OutOfMemory").cause == Cause.OUT_OF_MEMORY
    assert obs(backend, "PENDING", "DependencyNeverSatisfied").cause == (
        Cause.DEPENDENCY_NEVER_SATISFIED
    )
    assert obs(backend, "TIMEOUT", "TimeLimit").cause == Cause.TIME_LIMIT
    assert obs(backend, "PENDING", "Resources").cause is None


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
