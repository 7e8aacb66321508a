"""A requeued job's intermediate states are not its end: the status file of a run that
was warned or preempted (a "requeue" line, then the TERM exit) while the scheduler holds
the job again; and a later run is judged alone, its runs kept as history."""

from __future__ import annotations

import json

from clusterlab.backends.base import Observation
from clusterlab.common.jobdir import parse_status
from clusterlab.common.states import Cause, JobState
from clusterlab.core.model.settle import decide


def _lines(*records: dict[str, object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


FIRST = {"event": "started", "time": 100.0, "host": "n1", "pid": 5, "attempt": 1}
WARNED = {"event": "requeue", "time": 160.0, "cause": "time limit warning", "attempt": 1}
PREEMPTED = {"event": "requeue", "time": 160.0, "cause": "preempted by a job of higher priority"}
TERM_EXIT = {"event": "exit", "time": 161.0, "code": 143, "signal": "TERM"}
SECOND = {"event": "started", "time": 200.0, "host": "n2", "pid": 6, "attempt": 2}


def test_a_warned_run_that_stopped_waits_for_its_next_run_not_cancelled() -> None:
    """Before: the TERM exit line settled the job CANCELLED while SLURM had requeued it."""
    status = parse_status(_lines(FIRST, WARNED, TERM_EXIT))
    d = decide(JobState.RUNNING, Observation(JobState.PENDING, "waiting"), status)
    assert d.state == JobState.PENDING
    assert d.reason == "requeued (time limit warning): waiting to run again"


def test_a_preempted_run_waits_while_the_scheduler_shows_it_preempted() -> None:
    status = parse_status(_lines(FIRST, PREEMPTED, TERM_EXIT))
    obs = Observation(JobState.FAILED, cause=Cause.PREEMPTED)
    assert decide(JobState.RUNNING, obs, status).state == JobState.PENDING


def test_a_requeue_the_scheduler_then_cancelled_is_cancelled() -> None:
    status = parse_status(_lines(FIRST, PREEMPTED, TERM_EXIT))
    d = decide(JobState.PENDING, Observation(JobState.CANCELLED), status)
    assert d.state == JobState.CANCELLED


def test_a_requeue_that_never_runs_again_is_lost_in_the_end() -> None:
    status = parse_status(_lines(FIRST, WARNED, TERM_EXIT))
    d = decide(JobState.PENDING, Observation(None), status, now=1000.0)
    assert d.state == JobState.PENDING  # not at once: a scheduler may not list it briefly
    absence = d.absence
    for now in (1010.0, 1020.0, 1100.0):
        d = decide(JobState.PENDING, Observation(None), status, absence, now=now)
        absence = d.absence
    assert d.state == JobState.LOST and "its last checkpoint is in its job dir" in d.reason


def test_the_next_run_is_judged_alone_and_both_runs_are_history() -> None:
    status = parse_status(_lines(FIRST, WARNED, TERM_EXIT, SECOND))
    assert status.exited is None and status.host == "n2"
    d = decide(JobState.PENDING, Observation(JobState.RUNNING), status)
    assert d.state == JobState.RUNNING and d.reason == "running on n2"
    assert [(r["attempt"], r["host"], r["cause"]) for r in status.runs] == [
        (1, "n1", "time limit warning"),
        (2, "n2", ""),
    ]
    assert status.runs[0]["ended"] == 161.0
    finished = {"event": "finished", "time": 230.0, "outcome": "ok", "sha256": "x"}
    done = parse_status(_lines(FIRST, WARNED, TERM_EXIT, SECOND, finished))
    assert decide(JobState.RUNNING, Observation(None), done).state == JobState.COMPLETED


def test_a_run_killed_without_a_word_then_started_again_says_the_scheduler_requeued_it() -> None:
    kill = {"event": "exit", "time": 150.0, "code": 137}
    status = parse_status(_lines(FIRST, kill, SECOND))
    assert status.runs[0]["cause"] == "stopped by SIGKILL and requeued by the scheduler"
    silent = parse_status(_lines(FIRST, SECOND))
    assert silent.runs[0]["cause"].startswith("requeued by the scheduler")


def test_retry_lines_are_runs_of_one_process() -> None:
    retry = {"event": "retry", "time": 120.0, "attempt": 2, "cause": "raised OSError: busy"}
    status = parse_status(_lines(FIRST, retry))
    assert [(r["attempt"], r["cause"]) for r in status.runs] == [
        (1, "raised OSError: busy"),
        (2, ""),
    ]
    assert status.started == 100.0  # the process's start, unchanged


def test_which_ends_are_outside_the_function() -> None:
    from clusterlab.core.model.settle import Decision
    from clusterlab.core.submission.retry import outside_failure

    killed = Decision(JobState.FAILED, "killed with SIGKILL: most often ...")
    assert outside_failure(killed, "")
    assert outside_failure(Decision(JobState.LOST, "left the queue"), "")
    assert outside_failure(Decision(JobState.CANCELLED, "stopped by SIGTERM (...)"), "")
    assert not outside_failure(Decision(JobState.FAILED, ""), "error")  # the function raised
    assert not outside_failure(Decision(JobState.FAILED, "cloudpickle is missing"), "env_error")
    assert not outside_failure(Decision(JobState.CANCELLED, "cancelled (by you)"), "")
    assert not outside_failure(Decision(JobState.TIMEOUT, "killed after its time limit"), "")
