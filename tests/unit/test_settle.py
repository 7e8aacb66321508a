from __future__ import annotations

import json

import pytest

from clusterlab.backends.base import Observation
from clusterlab.common.jobdir import parse_status
from clusterlab.common.states import Cause, JobState
from clusterlab.core.model.settle import (
    DEPENDENCY_FAILED,
    GONE,
    MISSING_POLLS_BEFORE_LOST,
    PRESENT,
    decide,
)


def status(*events: dict[str, object]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


STARTED = {"event": "started", "time": 1.0, "host": "node7"}


def test_status_file_wins_over_the_queue() -> None:
    s = parse_status(status(STARTED, {"event": "finished", "time": 2.0, "outcome": "ok"}))
    for sched in (JobState.RUNNING, None, JobState.COMPLETED, JobState.CANCELLED):
        assert decide(JobState.RUNNING, Observation(sched), s).state == JobState.COMPLETED


def test_torn_last_line_is_ignored() -> None:
    s = parse_status(status(STARTED) + b'{"event": "fini')
    assert s.started == 1.0 and s.finished is None and s.host == "node7"


def test_pending_and_running_with_reasons() -> None:
    d = decide(
        JobState.PENDING,
        Observation(JobState.PENDING, "waiting for resources"),
        parse_status(None),
    )
    assert (d.state, d.reason) == (JobState.PENDING, "waiting for resources")
    d = decide(JobState.PENDING, Observation(JobState.RUNNING), parse_status(status(STARTED)))
    assert (d.state, d.reason) == (JobState.RUNNING, "running on node7")


def test_timeout_oom_cancel() -> None:
    none = parse_status(None)
    timeout = Observation(JobState.TIMEOUT, cause=Cause.TIME_LIMIT)
    d = decide(JobState.RUNNING, timeout, none, PRESENT, 60)
    assert d.state == JobState.TIMEOUT and "time limit (00:01:00)" in d.reason
    oom = Observation(JobState.FAILED, raw="whatever the scheduler says", cause=Cause.OUT_OF_MEMORY)
    d = decide(JobState.RUNNING, oom, none)
    assert d.state == JobState.FAILED and d.reason.startswith("out of memory")
    d = decide(JobState.RUNNING, Observation(JobState.CANCELLED), none)
    assert d.state == JobState.CANCELLED


def test_causes_not_raw_codes_decide() -> None:
    """The settle rules read neutral causes: a scheduler's raw code alone changes nothing,
    and every scheduler's dependency failure ends the job instead of pending forever."""
    none = parse_status(None)
    raw_only = Observation(JobState.PENDING, "waits", raw="PENDING DependencyNeverSatisfied")
    assert decide(JobState.PENDING, raw_only, none).state == JobState.PENDING
    never = Observation(JobState.PENDING, "waits", cause=Cause.DEPENDENCY_NEVER_SATISFIED)
    d = decide(JobState.PENDING, never, none)
    assert (d.state, d.reason, d.cancel) == (JobState.CANCELLED, DEPENDENCY_FAILED, True)
    for cause, words in [(Cause.NODE_FAILURE, "node"), (Cause.PREEMPTED, "preempted")]:
        d = decide(JobState.RUNNING, Observation(JobState.FAILED, cause=cause), none)
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


def test_job_gone_from_queue_is_lost_after_grace_not_running_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LOST needs both a few polls and the grace in seconds (NFS shows files late)."""
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "30")
    s = parse_status(status(STARTED))
    absence = PRESENT
    for poll in range(10):  # many quick polls within the grace: still running
        d = decide(JobState.RUNNING, Observation(None), s, absence, now=100.0 + poll)
        assert d.state == JobState.RUNNING
        absence = d.absence
    assert absence.polls == 10 and absence.since == 100.0
    d = decide(JobState.RUNNING, Observation(None), s, absence, now=129.0)
    assert d.state == JobState.RUNNING
    d = decide(JobState.RUNNING, Observation(None), s, absence, now=131.0)
    assert d.state == JobState.LOST and "left the queue" in d.reason
    assert MISSING_POLLS_BEFORE_LOST >= 2


def test_a_reattached_lost_job_is_revived_by_its_files() -> None:
    done = parse_status(status(STARTED, {"event": "finished", "time": 2.0, "outcome": "ok"}))
    assert decide(JobState.LOST, Observation(None), done, GONE).state == JobState.COMPLETED
    d = decide(JobState.LOST, Observation(None), parse_status(status(STARTED)), GONE)
    assert d.state == JobState.LOST  # still nothing: lost again at once, no new grace


def _exited(code: int, sig: str = "", started: float = 1000.0, ended: float = 1030.0) -> bytes:
    start = {"event": "started", "time": started, "host": "node7"}
    end = {"event": "exit", "code": code, "signal": sig, "time": ended}
    return status(start, end)


@pytest.mark.parametrize(
    ("code", "sig", "limit", "state", "words"),
    [
        (137, "", None, JobState.FAILED, "SIGKILL: most often for using more memory"),
        (143, "TERM", None, JobState.CANCELLED, "stopped by SIGTERM"),
        (0, "TERM", None, JobState.CANCELLED, "stopped by SIGTERM"),
        (143, "TERM", 30, JobState.TIMEOUT, "time limit (00:00:30)"),
        (124, "", 30, JobState.TIMEOUT, "time limit"),
        (137, "", 30, JobState.TIMEOUT, "time limit"),
        (139, "", None, JobState.FAILED, "killed by SIGSEGV"),
        (1, "", None, JobState.FAILED, "exited with code 1 without reporting a result"),
        (120, "", None, JobState.FAILED, "could not write its output or result (is the disk"),
    ],
)
def test_how_a_job_ended_while_no_one_watched(
    code: int, sig: str, limit: int | None, state: JobState, words: str
) -> None:
    """The job script's exit line settles a job whose runner could not report (OOM kill,
    time limit, outside cancel), even after the scheduler forgot it: not LOST."""
    d = decide(JobState.RUNNING, Observation(None), parse_status(_exited(code, sig)), GONE, limit)
    assert d.state == state and words in d.reason, d.reason


def test_missing_python_is_explained() -> None:
    s = parse_status(status({"event": "finished", "outcome": "no_python"}))
    d = decide(JobState.RUNNING, Observation(JobState.FAILED), s)
    assert d.state == JobState.FAILED and "python command was not found" in d.reason


def test_a_job_whose_directory_is_gone_fails_with_that_sentence() -> None:
    gone = Observation(JobState.RUNNING, dir_missing=True)
    d = decide(JobState.RUNNING, gone, parse_status(None))
    assert d.state == JobState.FAILED and "job directory is gone" in d.reason and d.cancel
