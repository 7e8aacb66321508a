"""Reading Kubernetes' view of a job: pods and Jobs (as JSON dicts) to states and sentences.

Pure functions, unit-tested on samples of what the API returns. A pod says most: its
phase, its container's state (``OOMKilled``, an image that cannot be pulled), its reason
(``Evicted``, ``DeadlineExceeded`` at its ``activeDeadlineSeconds``), and the
``DisruptionTarget`` condition Kubernetes sets on pods it stops (preemption, eviction,
node loss). A Job's conditions (``BackoffLimitExceeded``, ``DeadlineExceeded``,
``FailedIndexes``) only matter for a task that has no pod left to ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..common.states import Cause, JobState
from .k8s_manifest import CONTAINER, INDEX, JOB, TASKS, THROTTLE


@dataclass
class PodView:
    """One pod, read: which task, its state, a sentence, and the neutral cause."""

    name: str
    job: str  # the Job (clusterlab's native id)
    index: int | None  # the completion index of an Indexed Job's pod
    state: JobState
    reason: str = ""
    raw: str = ""
    cause: Cause | None = None
    terminal: bool = False  # Succeeded or Failed: its log is complete
    deleting: bool = False  # being deleted (its log may soon be gone)
    created: str = ""
    tasks: int = 1
    throttle: int = 0
    uid: str = ""
    owners: tuple[str, ...] = ()  # uids of its ownerReferences (its Job's)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for cond in _dict(obj.get("status")).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return {}


def _int(text: Any, default: int = 0) -> int:
    try:
        return int(str(text))
    except ValueError:
        return default


def _container(pod: Mapping[str, Any]) -> dict[str, Any]:
    statuses = _dict(pod.get("status")).get("containerStatuses") or []
    for status in statuses:
        if isinstance(status, dict) and status.get("name") == CONTAINER:
            return status
    return statuses[0] if statuses and isinstance(statuses[0], dict) else {}


# DisruptionTarget reasons: Kubernetes itself stopped the pod.
_DISRUPTIONS: dict[str, tuple[Cause, str]] = {
    "PreemptionByScheduler": (
        Cause.PREEMPTED,
        "preempted: Kubernetes stopped it to make room for a higher-priority pod",
    ),
    "EvictionByEvictionAPI": (
        Cause.EVICTED,
        "evicted through the Eviction API (a node drain or an autoscaler removing its node)",
    ),
    "TerminationByKubelet": (
        Cause.EVICTED,
        "evicted by its node (the node ran short of memory or disk, or shut down)",
    ),
    "DeletionByTaintManager": (
        Cause.NODE_FAILURE,
        "its node became unusable (tainted NoExecute: not ready or unreachable)",
    ),
    "DeletionByPodGC": (Cause.NODE_FAILURE, "its node is gone"),
}

_WAITING: dict[str, str] = {
    "ErrImagePull": "cannot pull the image {image} ({message}): check the profile's image "
    "(name, tag, and that the cluster may pull it; private registries need an "
    "imagePullSecret on the service account)",
    "ImagePullBackOff": "cannot pull the image {image} ({message}): check the profile's "
    "image (name, tag, and that the cluster may pull it; private registries need an "
    "imagePullSecret on the service account)",
    "InvalidImageName": "the image name {image!r} is not valid: fix the profile's image",
    "CreateContainerConfigError": "Kubernetes cannot create its container: {message}",
    "CreateContainerError": "Kubernetes cannot create its container: {message}",
    "ContainerCreating": "starting: the node pulls the image and mounts its volumes",
    "PodInitializing": "starting: the node prepares the pod",
}


def _pending(pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[str, str]:
    waiting = _dict(_dict(container.get("state")).get("waiting"))
    code = str(waiting.get("reason") or "")
    if code in _WAITING:
        image = container.get("image") or _dict(pod.get("spec")).get("containers", [{}])[0].get(
            "image", "?"
        )
        message = str(waiting.get("message") or code)
        return code, _WAITING[code].format(image=image, message=message)
    for cond in _dict(pod.get("status")).get("conditions") or []:
        if (
            isinstance(cond, dict)
            and cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
        ):
            message = str(cond.get("message") or cond.get("reason") or "")
            return str(cond.get("reason") or "Unschedulable"), (
                f"waiting for a node with room for it (Kubernetes says: {message}); ask "
                "for fewer cores, less memory or fewer GPUs, or check the node_selector"
            )
    if code:
        return code, f"starting ({code}: {waiting.get('message') or 'no message'})"
    return "Pending", "waiting for Kubernetes to schedule it"


def _failed(pod: Mapping[str, Any], container: Mapping[str, Any]) -> PodView:
    status = _dict(pod.get("status"))
    reason, message = str(status.get("reason") or ""), str(status.get("message") or "")
    term = _dict(_dict(container.get("state")).get("terminated"))
    code = term.get("exitCode")
    view = PodView("", "", None, JobState.FAILED, raw=f"Failed {reason}".strip())
    if reason == "DeadlineExceeded":
        view.state, view.cause, view.raw = JobState.TIMEOUT, Cause.TIME_LIMIT, "DeadlineExceeded"
        view.reason = "killed after reaching its time limit (activeDeadlineSeconds)"
    elif term.get("reason") == "OOMKilled":
        view.cause, view.raw = Cause.OUT_OF_MEMORY, "OOMKilled"
        view.reason = "killed for using more memory than its limit (OOMKilled)"
    elif reason == "Evicted":
        view.cause, view.raw = Cause.EVICTED, "Evicted"
        view.reason = f"evicted by its node: {message or 'no message'}"
    elif disruption := _condition(pod, "DisruptionTarget"):
        view.cause, view.reason = _DISRUPTIONS.get(
            str(disruption.get("reason")),
            (Cause.NODE_FAILURE, f"stopped by Kubernetes ({disruption.get('reason')})"),
        )
        view.raw = f"DisruptionTarget {disruption.get('reason')}"
    elif term.get("reason") == "ContainerStatusUnknown":
        view.cause, view.raw = Cause.NODE_FAILURE, "ContainerStatusUnknown"
        view.reason = "its node stopped reporting on it (ContainerStatusUnknown)"
    elif code is not None:
        view.reason = f"its container exited with code {code}"
        view.raw = f"Failed exit {code}"
    else:
        view.reason = f"Kubernetes reports its pod failed ({message or reason or 'no reason'})"
    return view


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """How one pod of a clusterlab Job is seen."""
    meta = _dict(pod.get("metadata"))
    labels, notes = _dict(meta.get("labels")), _dict(meta.get("annotations"))
    index_text = notes.get(INDEX, labels.get(INDEX))
    index = _int(index_text, -1) if index_text is not None else None
    phase = str(_dict(pod.get("status")).get("phase") or "Pending")
    container = _container(pod)
    if phase == "Succeeded":
        view = PodView("", "", None, JobState.COMPLETED, raw="Succeeded", terminal=True)
    elif phase == "Failed":
        view = _failed(pod, container)
        view.terminal = True
    elif phase == "Running":
        view = PodView("", "", None, JobState.RUNNING, raw="Running")
    elif phase == "Unknown":
        view = PodView("", "", None, JobState.RUNNING, raw="Unknown")
        view.reason = "its node stopped reporting (phase Unknown)"
    else:
        code, sentence = _pending(pod, container)
        view = PodView("", "", None, JobState.PENDING, sentence, f"Pending {code}")
    if meta.get("deletionTimestamp") and not view.terminal:
        view.deleting = True
        disruption = _condition(pod, "DisruptionTarget")
        if disruption:
            view.cause, view.reason = _DISRUPTIONS.get(
                str(disruption.get("reason")), (Cause.NODE_FAILURE, "stopped by Kubernetes")
            )
        else:
            view.cause = Cause.CANCELLED
            view.reason = "its pod is being deleted (the Job was deleted outside clusterlab?)"
    view.name = str(meta.get("name") or "")
    view.job = str(labels.get(JOB) or "")
    view.index = index
    view.created = str(meta.get("creationTimestamp") or "")
    view.uid = str(meta.get("uid") or "")
    refs = meta.get("ownerReferences")
    refs = refs if isinstance(refs, list) else []
    view.owners = tuple(str(_dict(r).get("uid") or "") for r in refs)
    view.tasks = max(1, _int(notes.get(TASKS), 1))
    view.throttle = _int(notes.get(THROTTLE))
    return view


def job_view(job: Mapping[str, Any]) -> tuple[JobState, str, str, Cause | None]:
    """A task without a pod, as its Job's status explains it: ``(state, reason, raw, cause)``."""
    failed = _condition(job, "Failed")
    code, message = str(failed.get("reason") or ""), str(failed.get("message") or "")
    if code == "DeadlineExceeded":
        return (
            JobState.TIMEOUT,
            "killed after reaching its time limit (the Job's activeDeadlineSeconds)",
            code,
            Cause.TIME_LIMIT,
        )
    if failed:
        return (
            JobState.FAILED,
            f"Kubernetes gave up on it ({code}: {message or 'no message'}); its pod was "
            "not kept, so its log and result are lost",
            code,
            None,
        )
    if _condition(job, "Complete"):
        return JobState.COMPLETED, "", "Complete", None
    if _dict(job.get("spec")).get("suspend"):
        return JobState.PENDING, "suspended (spec.suspend is true)", "Suspended", None
    name = _dict(job.get("metadata")).get("name", "NAME")
    return (
        JobState.PENDING,
        "waiting for Kubernetes to create its pod (if it stays so, a ResourceQuota or an "
        f"admission policy may refuse it: `kubectl describe job {name}` says why)",
        "NoPod",
        None,
    )


THROTTLED = "waiting under the array's concurrency limit (%N)"


def throttled(pods: list[PodView]) -> bool:
    """Whether an Indexed Job's missing pods wait for its parallelism cap."""
    if not pods or not pods[0].throttle:
        return False
    running = sum(1 for p in pods if not p.terminal)
    return running >= pods[0].throttle
