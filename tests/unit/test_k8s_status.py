"""Pods and Jobs as the API returns them, read into states, causes and sentences; and what
the settle rules make of them (the sentence a user reads)."""

from __future__ import annotations

from typing import Any

import pytest

from clusterlab.backends.base import Observation
from clusterlab.backends.k8s_status import THROTTLED, job_view, pod_view, throttled
from clusterlab.common.jobdir import parse_status
from clusterlab.common.states import Cause, JobState
from clusterlab.core.model.settle import decide

STARTED = b'{"event": "started", "time": 100.0, "host": "pod-1", "pid": 7}\n'
TERM_EXIT = (
    b'{"event": "exit", "code": 143, "signal": "TERM", "time": 104.0}\n'
    b'{"event": "exit", "code": 143, "time": 104}\n'
)


def pod(
    phase: str,
    container: dict[str, Any] | None = None,
    index: int | None = None,
    **status: Any,
) -> dict[str, Any]:
    notes = {"clusterlab.io/tasks": "3", "clusterlab.io/max-concurrent": "1"}
    if index is not None:
        notes["batch.kubernetes.io/job-completion-index"] = str(index)
    return {
        "metadata": {
            "name": "cl-a-0-xyz",
            "uid": "u1",
            "creationTimestamp": "2026-11-23T12:00:00Z",
            "labels": {"clusterlab.io/job": "cl-a"},
            "annotations": notes,
        },
        "spec": {"containers": [{"name": "job", "image": "img:1"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "job", "image": "img:1", "state": container or {}}],
            **status,
        },
    }


def terminated(code: int, reason: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason}}


def settle(p: dict[str, Any], status: bytes = STARTED, limit: int | None = None) -> Any:
    v = pod_view(p)
    obs = Observation(v.state, v.reason, v.raw, cause=v.cause)
    return decide(JobState.RUNNING, obs, parse_status(status), time_limit_s=limit)


def test_oomkilled_is_out_of_memory() -> None:
    p = pod("Failed", terminated(137, "OOMKilled"))
    v = pod_view(p)
    assert (v.state, v.cause, v.terminal) == (JobState.FAILED, Cause.OUT_OF_MEMORY, True)
    decision = settle(p)
    assert decision.state == JobState.FAILED
    assert decision.reason.startswith("out of memory: it used more than its memory request")


def test_an_oomkilled_runner_whose_entry_survived_still_reads_out_of_memory() -> None:
    exit_line = b'{"event": "exit", "code": 137, "time": 104}\n'
    decision = settle(pod("Failed", terminated(137, "OOMKilled")), STARTED + exit_line)
    assert decision.reason.startswith("out of memory")


def test_evicted_is_said_even_though_the_runner_saw_sigterm() -> None:
    message = "The node was low on resource: memory. Threshold quantity: 100Mi."
    p = pod("Failed", terminated(137, "Error"), reason="Evicted", message=message)
    v = pod_view(p)
    assert v.cause == Cause.EVICTED and message in v.reason
    decision = settle(p, STARTED + TERM_EXIT)
    assert decision.state == JobState.FAILED
    assert decision.reason.startswith("evicted: its node ran short of memory or disk")


def test_pod_deadline_is_timeout() -> None:
    p = pod(
        "Failed",
        terminated(143, "Error"),
        reason="DeadlineExceeded",
        message="Pod was active on the node longer than the specified deadline",
    )
    v = pod_view(p)
    assert (v.state, v.cause) == (JobState.TIMEOUT, Cause.TIME_LIMIT)
    decision = settle(p, STARTED + TERM_EXIT, limit=2)
    assert decision.state == JobState.TIMEOUT
    assert decision.reason.startswith("killed after reaching its time limit (00:00:02)")


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("PreemptionByScheduler", Cause.PREEMPTED),
        ("EvictionByEvictionAPI", Cause.EVICTED),
        ("TerminationByKubelet", Cause.EVICTED),
        ("DeletionByTaintManager", Cause.NODE_FAILURE),
        ("DeletionByPodGC", Cause.NODE_FAILURE),
    ],
)
def test_disruptions_say_who_stopped_the_pod(reason: str, cause: Cause) -> None:
    cond = {"type": "DisruptionTarget", "status": "True", "reason": reason}
    p = pod("Failed", terminated(143, "Error"), conditions=[cond])
    assert pod_view(p).cause == cause
    running = pod("Running", {"running": {}}, conditions=[cond])
    running["metadata"]["deletionTimestamp"] = "2026-11-23T12:00:05Z"
    assert pod_view(running).cause == cause and pod_view(running).deleting


def test_a_pod_deleted_by_someone_else_is_cancelled() -> None:
    p = pod("Running", {"running": {}})
    p["metadata"]["deletionTimestamp"] = "2026-11-23T12:00:05Z"
    v = pod_view(p)
    assert v.deleting and v.cause == Cause.CANCELLED and not v.terminal


def test_an_exception_in_the_function_is_a_failed_pod_that_the_status_file_explains() -> None:
    v = pod_view(pod("Failed", terminated(1, "Error")))
    assert v.state == JobState.FAILED and v.cause is None
    assert v.reason == "its container exited with code 1"
    finished = STARTED + b'{"event": "finished", "outcome": "error", "time": 101.0}\n'
    assert settle(pod("Failed", terminated(1, "Error")), finished).state == JobState.FAILED


def test_succeeded_running_and_index() -> None:
    v = pod_view(pod("Succeeded", terminated(0, "Completed"), index=2))
    assert (v.state, v.terminal, v.index, v.job) == (JobState.COMPLETED, True, 2, "cl-a")
    assert (v.tasks, v.throttle) == (3, 1)
    assert pod_view(pod("Running", {"running": {}})).state == JobState.RUNNING


def test_pending_reasons_are_sentences() -> None:
    unschedulable = pod(
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ],
    )
    v = pod_view(unschedulable)
    assert v.state == JobState.PENDING
    assert v.reason.startswith("waiting for a node with room for it (Kubernetes says: 0/3")
    pull = pod("Pending", {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}})
    assert pod_view(pull).reason.startswith("cannot pull the image img:1 (not found)")
    creating = pod("Pending", {"waiting": {"reason": "ContainerCreating"}})
    assert pod_view(creating).reason.startswith("starting")
    assert pod_view(pod("Pending")).reason == "waiting for Kubernetes to schedule it"


def job(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "cl-a"}, "spec": {}, "status": status}


def failed(reason: str, message: str = "") -> dict[str, Any]:
    cond = {"type": "Failed", "status": "True", "reason": reason, "message": message}
    return job(conditions=[cond])


def test_job_conditions_explain_a_task_without_a_pod() -> None:
    state, reason, raw, cause = job_view(
        failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    )
    assert (state, raw, cause) == (JobState.FAILED, "BackoffLimitExceeded", None)
    assert reason.startswith("Kubernetes gave up on it (BackoffLimitExceeded: Job has reached")
    state, reason, _, cause = job_view(failed("DeadlineExceeded"))
    assert (state, cause) == (JobState.TIMEOUT, Cause.TIME_LIMIT)
    obs = Observation(state, reason, cause=cause)
    assert decide(JobState.RUNNING, obs, parse_status(b"")).state == JobState.TIMEOUT
    assert job_view(failed("FailedIndexes"))[0] == JobState.FAILED
    complete = job(conditions=[{"type": "Complete", "status": "True"}])
    assert job_view(complete)[0] == JobState.COMPLETED
    waiting = job_view(job())
    assert waiting[0] == JobState.PENDING and "kubectl describe job cl-a" in waiting[1]
    suspended = {"metadata": {"name": "cl-a"}, "spec": {"suspend": True}, "status": {}}
    assert job_view(suspended)[1].startswith("suspended")


def test_throttle_is_read_from_the_pods() -> None:
    running = pod_view(pod("Running", {"running": {}}, index=0))
    done = pod_view(pod("Succeeded", terminated(0, "Completed"), index=1))
    assert throttled([running]) and not throttled([done]) and not throttled([])
    assert THROTTLED.startswith("waiting under the array's concurrency limit (%N)")


def test_garbage_is_not_a_crash() -> None:
    v = pod_view({"metadata": None, "status": {"phase": "Failed", "containerStatuses": [1]}})
    assert v.state == JobState.FAILED and v.index is None
