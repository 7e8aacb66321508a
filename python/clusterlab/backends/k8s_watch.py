"""One poll of the Kubernetes backend: every watched job from one pod list.

Per poll: ONE ``GET pods?labelSelector=...`` for all jobs of this machine's jobs root,
plus a Job list only when a task has no pod to ask (just created, blocked by a quota, or
gone), plus a log read per pod that ended (once: its files are then in the kernel's job
dir) and for a few running ones (live output, at most :data:`LIVE_PODS` per poll, each at
most every :data:`LIVE_EVERY` seconds, with ``sinceSeconds``).

What a pod said when it ended is kept beside its files (``k8s-end``, ``k8s-end.TASK``), so
the Job can be deleted once every task's results are back and a later process (after a
kernel restart) still knows how each ended. Held jobs (dependencies) are released here.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..common import jobdir
from ..common.errors import ClusterlabError, SubmitError, TransportError
from ..common.jobdir import parse_status
from ..common.states import Cause, JobState
from .base import Observation, WatchTarget
from .k8s_api import KubeApi, KubeError
from .k8s_manifest import CONTAINER, INDEX, MANAGED, OWNER, owner_label
from .k8s_mirror import apply_log
from .k8s_status import THROTTLED, PodView, job_view, pod_view, throttled

if TYPE_CHECKING:
    from .kubernetes import KubernetesBackend

LIVE_EVERY = 2.0  # seconds between two live reads of one running pod's log
LIVE_PODS = 16  # running pods whose log one poll reads at most
LOG_TRIES = 5  # polls that may fail to read an ended pod's log before it is given up
WAITING = "waiting for the jobs it depends on"
STARTING = "its container started; waiting for clusterlab's runner to report"


def read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path: str, value: Any) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(value, fh)
    os.replace(tmp, path)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def end_file(task: int | None) -> str:
    return "k8s-end" if task is None else f"k8s-end.{task}"


def delete_job(api: KubeApi, name: str) -> None:
    """Delete a Job with its pods (Background: the API's default for Jobs orphans them)."""
    try:
        api.request(
            "DELETE",
            api.ns_path("batch/v1", "jobs", name),
            {"propagationPolicy": "Background"},
        )
    except KubeError as exc:
        if exc.status != 404:
            raise TransportError(f"kubernetes: deleting Job {name} failed: {exc}") from None


def delete_secret(api: KubeApi, name: str, uid: str | None) -> None:
    """Delete the Secret this job created (``uid``), and no other of that name. Its owner
    reference does this when the Job goes; this covers a missing reference (no patch
    rights) and a Job that was never created."""
    if not uid:
        return
    try:
        api.request(
            "DELETE",
            api.ns_path("", "secrets", name),
            body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}},
        )
    except KubeError as exc:
        if exc.status not in (404, 409):  # 409: the uid differs: not ours
            raise TransportError(f"kubernetes: deleting Secret {name} failed: {exc}") from None


def task_pods(items: Iterable[Any], task: int) -> list[str]:
    """Names of the pods of completion index ``task`` among raw pods."""
    out = []
    for pod in items:
        meta = pod.get("metadata") or {}
        index = (meta.get("annotations") or {}).get(INDEX, (meta.get("labels") or {}).get(INDEX))
        if str(index) == str(task):
            out.append(str(meta.get("name")))
    return out


def _final(status: bytes | None, floor: int = 0) -> bool:
    """Whether a task's status says how it ended (its files are then all here); ``floor``:
    the bytes of earlier runs of a job submitted again, whose end is not this run's."""
    info = parse_status(status[floor:] if status else status)
    return info.finished is not None or info.exited is not None


def _obs(state: JobState | None, reason: str = "", raw: str = "", cause: Any = None) -> Observation:
    return Observation(state, reason, raw, cause=Cause(cause) if cause else None)


class Poller:
    """The backend's poll, with what it remembers between polls (live log reads)."""

    def __init__(self, backend: KubernetesBackend) -> None:
        self.backend = backend
        self.api = backend.api
        self._read_at: dict[str, float] = {}  # pod uid -> when its log was last read
        self._full: set[str] = set()  # pod uids whose next read must be the whole log
        self._log_failures: dict[str, int] = {}  # pod uid -> failed reads of its ended log
        self._views: dict[str, list[PodView]] = {}
        self._jobs: dict[str, dict[str, Any]] | None = None
        self._selectors: list[str] = []
        self._live = 0

    # -- one poll -----------------------------------------------------------------------------
    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        if not targets:
            return {}
        owners = sorted({owner_label(t.job_dir) for t in targets})
        self._selectors = [f"{MANAGED}=clusterlab,{OWNER}={o}" for o in owners]
        self._views, self._jobs, self._live = {}, None, 0
        for sel in self._selectors:
            pods = self.api.request("GET", self.api.ns_path("", "pods"), {"labelSelector": sel})
            for pod in pods.get("items") or []:
                view = pod_view(pod)
                self._views.setdefault(view.job, []).append(view)
        out: dict[str, Observation] = {}
        held = []
        for t in targets:
            state = read_json(os.path.join(t.job_dir, "k8s.json"))
            if state.get("state") == "held":
                held.append((t, state))
            else:
                out[t.native_id] = self._observe(t, state)
        for t, state in held:  # after the others: their results are in by now
            out[t.native_id] = self._held(t, state)
        return out

    def _job(self, name: str) -> dict[str, Any] | None:
        """The Job called ``name`` (one Job list per poll, only when asked)."""
        if self._jobs is None:
            self._jobs = {}
            for sel in self._selectors:
                path = self.api.ns_path("batch/v1", "jobs")
                for job in self.api.request("GET", path, {"labelSelector": sel}).get("items") or []:
                    self._jobs[str((job.get("metadata") or {}).get("name"))] = job
        return self._jobs.get(name)

    def _observe(self, t: WatchTarget, state: dict[str, Any]) -> Observation:
        if not os.path.isdir(t.job_dir):
            return Observation(None, dir_missing=True)
        if state.get("state") == "cancelled":
            return _obs(JobState.CANCELLED, "cancelled by you", "Cancelled", Cause.CANCELLED)
        if state.get("state") == "refused":
            return _obs(JobState.FAILED, str(state.get("reason")), "Refused")
        pods = self._views.get(t.native_id, [])
        if state.get("job_uid"):  # pods with our labels that our Job did not make: ignored
            pods = [p for p in pods if state["job_uid"] in p.owners]
        tasks: list[int | None] = [None]
        if t.is_array:
            tasks = list(range(int(state.get("tasks") or 0)))
        for pod in pods:  # a cancelled task's pod, started after the cancel
            cancelled = os.path.exists(f"{t.job_dir}/k8s-cancel.{pod.index}")
            if pod.index is not None and cancelled and not pod.terminal and not pod.deleting:
                self.backend.delete_pod(pod.name)
        by_task: dict[int | None, list[PodView]] = {}
        for pod in pods:
            by_task.setdefault(None if not t.is_array else pod.index, []).append(pod)
        seen: dict[int | None, Observation] = {}
        ended = 0  # tasks whose files are all here (their pods only say goodbye)
        for task in tasks:
            end = read_json(os.path.join(t.job_dir, end_file(task)))
            mine = by_task.get(task, [])
            if end:
                seen[task] = _obs(JobState(end["state"]), end["reason"], end["raw"], end["cause"])
            elif mine:
                seen[task] = self._pod(t, max(mine, key=lambda p: p.created), task)
            elif t.is_array and throttled(pods):
                seen[task] = _obs(JobState.PENDING, THROTTLED, "Throttled")
            else:
                seen[task] = self._podless(t.native_id)
            seen[task].status = _read(os.path.join(t.job_dir, jobdir.status_file(task)))
            floor = int(state.get("status_floor") or 0) if task is None else 0
            if _final(seen[task].status, floor) or os.path.exists(
                os.path.join(t.job_dir, end_file(task))
            ):
                ended += 1
        if ended == len(tasks) and state.get("state") != "deleted":
            with contextlib.suppress(ClusterlabError):  # kubectl can delete a leftover
                delete_job(self.api, t.native_id)
                delete_secret(self.api, t.native_id, state.get("secret_uid"))
                state["state"] = "deleted"
                write_json(os.path.join(t.job_dir, "k8s.json"), state)
        if not t.is_array:
            return seen[None]
        return Observation(None, tasks={i: o for i, o in seen.items() if i is not None})

    def _podless(self, name: str) -> Observation:
        job = self._job(name)
        if job is None:
            return Observation(None)  # gone: the status file (or its absence) settles it
        state, reason, raw, cause = job_view(job)
        return Observation(None) if state == JobState.COMPLETED else _obs(state, reason, raw, cause)

    # -- one pod ------------------------------------------------------------------------------
    def _pod(self, t: WatchTarget, pod: PodView, task: int | None) -> Observation:
        if pod.terminal:
            reason = pod.reason
            try:
                self._read_log(t.job_dir, pod, full=True)
            except ClusterlabError as exc:
                tries = self._log_failures[pod.uid] = self._log_failures.get(pod.uid, 0) + 1
                if tries < LOG_TRIES:
                    return _obs(JobState.RUNNING, f"its pod ended; reading its log failed: {exc}")
                reason = f"its pod's log could not be read ({exc}): its output and result are lost"
            end = {"state": pod.state.value, "reason": reason, "raw": pod.raw}
            end["cause"] = pod.cause.value if pod.cause else ""
            write_json(os.path.join(t.job_dir, end_file(task)), end)
            self._read_at.pop(pod.uid, None)
            return _obs(pod.state, reason, pod.raw, pod.cause)
        if pod.deleting:
            with contextlib.suppress(ClusterlabError):  # its last words, while they exist
                self._read_log(t.job_dir, pod, full=True)
            return _obs(pod.state, pod.reason, pod.raw, pod.cause)
        if pod.state != JobState.RUNNING:
            return _obs(pod.state, pod.reason, pod.raw, pod.cause)
        status_path = os.path.join(t.job_dir, jobdir.status_file(task))
        started = b'"started"' in (_read(status_path) or b"")
        due = time.monotonic() - self._read_at.get(pod.uid, float("-inf")) >= LIVE_EVERY
        if (not started or due) and self._live < LIVE_PODS:
            self._live += 1
            try:
                self._read_log(t.job_dir, pod, full=False)
            except ClusterlabError as exc:
                return _obs(JobState.RUNNING, f"running; its log cannot be read: {exc}")
            if b'"started"' not in (_read(status_path) or b""):
                return _obs(JobState.PENDING, STARTING, pod.raw)  # RUNNING once it says so
        elif not started:  # more running pods than one poll reads: its turn comes
            return _obs(JobState.RUNNING, "running (its output is read in turn)", pod.raw)
        return _obs(JobState.RUNNING, "", pod.raw)

    def _read_log(self, job_dir: str, pod: PodView, full: bool) -> None:
        """Bring a pod's log into ``job_dir``; a live read asks only for what is new."""
        query: dict[str, Any] = {"container": CONTAINER}
        last = self._read_at.get(pod.uid)
        if not full and last is not None and pod.uid not in self._full:
            query["sinceSeconds"] = int(time.monotonic() - last) + 5
        whole = "sinceSeconds" not in query
        self._read_at[pod.uid] = time.monotonic()
        log = self.api.request(
            "GET", self.api.ns_path("", "pods", pod.name, "log"), query, raw=True
        )
        read = apply_log(job_dir, log, full=whole and pod.terminal)
        if read.gap and not whole:
            self._full.add(pod.uid)
        else:
            self._full.discard(pod.uid)

    # -- held jobs (dependencies) -------------------------------------------------------------
    def _held(self, t: WatchTarget, state: dict[str, Any]) -> Observation:
        verdicts = [self._dependency(dep) for dep in state.get("after") or []]
        if "failed" in verdicts:
            return _obs(
                JobState.PENDING, "dependency failed", "Held", Cause.DEPENDENCY_NEVER_SATISFIED
            )
        if "wait" in verdicts:
            return _obs(JobState.PENDING, WAITING, "Held")
        try:
            self.backend.create(t.job_dir, state)
        except SubmitError as exc:
            state.update(state="refused", reason=str(exc))
            write_json(os.path.join(t.job_dir, "k8s.json"), state)
            return _obs(JobState.FAILED, str(exc), "Refused")
        except ClusterlabError as exc:  # unreachable for now: released by a later poll
            return _obs(JobState.PENDING, f"its dependencies completed; submitting: {exc}")
        return _obs(JobState.PENDING, "submitted to Kubernetes; waiting for its pod", "Released")

    def _dependency(self, dep: dict[str, Any]) -> str:
        """'ok', 'wait' or 'failed' for one job (or task) a held job waits for."""
        where, task, name = str(dep["dir"]), dep.get("task"), str(dep["job"])
        state = read_json(os.path.join(where, "k8s.json"))
        if not state or state.get("state") in ("cancelled", "refused"):
            return "failed"
        if state.get("state") == "held":
            return "wait"
        status = _read(os.path.join(where, jobdir.status_file(task))) or b""
        info = parse_status(status[int(state.get("status_floor") or 0) if task is None else 0 :])
        if info.finished is not None:
            return "ok" if info.outcome == jobdir.OK else "failed"
        if info.exited is not None or read_json(os.path.join(where, end_file(task))):
            return "failed"
        if any(task is None or p.index == task for p in self._views.get(name, [])):
            return "wait"
        job = self._job(name)
        if job is None:
            return "failed"  # deleted (cancelled) before it could report
        return "failed" if job_view(job)[0] in (JobState.FAILED, JobState.TIMEOUT) else "wait"
