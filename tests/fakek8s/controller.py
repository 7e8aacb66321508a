"""The FAKE Job controller and kubelet: one tick moves every Job and pod forward.

See :mod:`tests.fakek8s.cluster` for what is modelled (and that this is not Kubernetes).
"""

from __future__ import annotations

import copy
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any

from .cluster import (
    _MOUNTS,
    ALLOCATABLE,
    LOG_MAX,
    NODE,
    NODE_LABELS,
    Cluster,
    Proc,
    now_iso,
    quantity,
    ranges,
)

INDEX = "batch.kubernetes.io/job-completion-index"


def tick(cluster: Cluster) -> None:
    for job in cluster.items("jobs"):
        _job(cluster, job)
    for pod in cluster.items("pods"):
        _pod(cluster, pod)


# -- Job controller -------------------------------------------------------------------------
def _pods_of(cluster: Cluster, job: dict[str, Any]) -> list[dict[str, Any]]:
    uid = job["metadata"]["uid"]
    return [
        p
        for p in cluster.items("pods", job["metadata"]["namespace"])
        if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
    ]


def _condition(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now_iso(),
        "lastTransitionTime": now_iso(),
    }


def _finished(job: dict[str, Any]) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in job["status"].get("conditions") or []
    )


def _job(cluster: Cluster, job: dict[str, Any]) -> None:
    meta, spec, status = job["metadata"], job["spec"], job.setdefault("status", {})
    pods = _pods_of(cluster, job)
    if "deletionTimestamp" in meta:  # foreground deletion: gone once its pods are
        if not pods:
            del cluster.objects[("jobs", meta["namespace"], meta["name"])]
        return
    if _finished(job):
        ttl = spec.get("ttlSecondsAfterFinished")
        ended = meta.setdefault("_ended", time.time())
        if ttl is not None and time.time() - ended >= int(ttl):  # the TTL controller
            cluster.delete("jobs", meta["namespace"], meta["name"], "Background", None)
        return
    if spec.get("suspend"):
        status["conditions"] = [_condition("Suspended", "JobSuspended", "Job suspended")]
        return
    status.setdefault("startTime", now_iso())
    meta.setdefault("_started", time.time())
    indexed = spec.get("completionMode") == "Indexed"
    completions = int(spec.get("completions") or 1)
    failures = cluster.failures.setdefault(meta["uid"], {})
    succeeded: set[int] = set()
    for pod in pods:  # count every pod that ended, once
        uid, phase = pod["metadata"]["uid"], pod["status"].get("phase")
        index = int(pod["metadata"]["annotations"].get(INDEX, 0)) if indexed else 0
        if phase == "Succeeded":
            succeeded.add(index)
        if phase in ("Succeeded", "Failed") and uid not in cluster.counted:
            cluster.counted.add(uid)
            if phase == "Failed":
                failures[index] = failures.get(index, 0) + 1
    succeeded |= {int(i) for i in meta.get("_done", [])}
    meta["_done"] = sorted(succeeded)
    per_index = spec.get("backoffLimitPerIndex")
    failed_indexes = (
        {i for i, n in failures.items() if n > per_index} if per_index is not None else set()
    )
    active = [
        p
        for p in pods
        if p["status"].get("phase") not in ("Succeeded", "Failed")
        and "deletionTimestamp" not in p["metadata"]
    ]
    status.update(
        active=len(active),
        ready=sum(1 for p in active if p["status"].get("phase") == "Running"),
        succeeded=len(succeeded),
        failed=sum(failures.values()),
        terminating=sum(1 for p in pods if "deletionTimestamp" in p["metadata"]),
        uncountedTerminatedPods={},
    )
    if indexed:
        status["completedIndexes"] = ranges(succeeded)
        if per_index is not None:
            status["failedIndexes"] = ranges(failed_indexes)
    deadline = spec.get("activeDeadlineSeconds")
    verdict = None
    if per_index is None and sum(failures.values()) > int(spec.get("backoffLimit", 6)):
        verdict = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    elif deadline and time.time() - meta["_started"] > deadline:
        verdict = ("DeadlineExceeded", "Job was active longer than specified deadline")
    elif len(succeeded | failed_indexes) >= completions:
        if failed_indexes:
            verdict = ("FailedIndexes", "Job has failed indexes")
        else:
            status["conditions"] = [
                _condition("SuccessCriteriaMet", "CompletionsReached"),
                _condition("Complete", "CompletionsReached", "Reached expected number"),
            ]
            status["completionTime"] = now_iso()
            return
    if verdict:
        failed = [_condition("FailureTarget", *verdict), _condition("Failed", *verdict)]
        status["conditions"] = failed
        for pod in active:
            cluster._delete_pod(pod, None)
        return
    busy = {int(p["metadata"]["annotations"].get(INDEX, 0)) for p in active} if indexed else set()
    room = int(spec.get("parallelism", 1)) - len(active)
    todo = [i for i in range(completions) if i not in succeeded | failed_indexes | busy]
    if not indexed:
        todo = [0] if not active and not succeeded else []
    for index in todo[: max(room, 0)]:
        _create_pod(cluster, job, index if indexed else None)


def _create_pod(cluster: Cluster, job: dict[str, Any], index: int | None) -> None:
    meta = job["metadata"]
    template = copy.deepcopy(job["spec"]["template"])
    labels = dict(template.get("metadata", {}).get("labels") or {})
    notes = dict(template.get("metadata", {}).get("annotations") or {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": meta["uid"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": meta["uid"],
            "job-name": meta["name"],
        }
    )
    name = f"{meta['name']}-{secrets.token_hex(3)[:5]}"
    spec = template["spec"]
    if index is not None:
        labels[INDEX] = notes[INDEX] = str(index)
        name = f"{meta['name']}-{index}-{secrets.token_hex(3)[:5]}"
        for container in spec["containers"]:
            container.setdefault("env", []).append(
                {"name": "JOB_COMPLETION_INDEX", "value": str(index)}
            )
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"]}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": notes,
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }
    cluster.new("pods", pod)


# -- kubelet --------------------------------------------------------------------------------
def _waiting(pod: dict[str, Any], reason: str, message: str = "") -> None:
    container = pod["spec"]["containers"][0]
    state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    pod["status"]["containerStatuses"] = [
        {
            "name": container["name"],
            "image": container["image"],
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": state,
        }
    ]


def _schedule(cluster: Cluster, pod: dict[str, Any]) -> str:
    """'' when the node fits the pod, else the scheduler's message."""
    selector = pod["spec"].get("nodeSelector") or {}
    if any(NODE_LABELS.get(k) != v for k, v in selector.items()):
        return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    used = dict.fromkeys(ALLOCATABLE, 0.0)
    for other in cluster.items("pods"):
        if other["spec"].get("nodeName") and other["status"].get("phase") in ("Pending", "Running"):
            for key, amount in _requests(other).items():
                used[key] = used.get(key, 0.0) + amount
    for key, amount in _requests(pod).items():
        if used.get(key, 0.0) + amount > ALLOCATABLE.get(key, 0.0):
            return f"0/1 nodes are available: 1 Insufficient {key}."
    return ""


def _requests(pod: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in pod["spec"]["containers"]:
        res = c.get("resources") or {}
        for key, value in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
            out[key] = out.get(key, 0.0) + quantity(value)
    return out


def _pod(cluster: Cluster, pod: dict[str, Any]) -> None:
    meta, status = pod["metadata"], pod["status"]
    proc = cluster.procs.get(meta["uid"])
    if "deletionTimestamp" in meta:
        grace = meta.get("deletionGracePeriodSeconds", 30)
        if proc is None or proc.popen.poll() is not None:
            if proc is not None:
                _ended(cluster, pod, proc)
            cluster._forget_pod(pod)
        elif proc.term_sent is not None and time.time() - proc.term_sent > grace:
            cluster._signal(proc, signal.SIGKILL)
        return
    if status["phase"] in ("Succeeded", "Failed"):
        return
    if proc is None:
        _start(cluster, pod)
        return
    _watch(cluster, pod, proc)


def _start(cluster: Cluster, pod: dict[str, Any]) -> None:
    status, spec = pod["status"], pod["spec"]
    if not spec.get("nodeName"):
        problem = _schedule(cluster, pod)
        if problem:
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": problem,
                    "lastTransitionTime": now_iso(),
                }
            ]
            return
        spec["nodeName"] = NODE
        status["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    container = spec["containers"][0]
    if "does-not-exist" in container["image"]:
        reason = "ImagePullBackOff" if status.get("_pull_tries", 0) else "ErrImagePull"
        status["_pull_tries"] = status.get("_pull_tries", 0) + 1
        _waiting(pod, reason, f'Back-off pulling image "{container["image"]}": not found (fake)')
        return
    ns = pod["metadata"]["namespace"]
    secrets_needed = [v for v in spec.get("volumes") or [] if "secret" in v]
    for vol in secrets_needed:
        if ("secrets", ns, vol["secret"]["secretName"]) not in cluster.objects:
            _waiting(pod, "ContainerCreating")  # FailedMount: the kubelet retries
            return
    root = tempfile.mkdtemp(prefix=f"pod-{pod['metadata']['name']}-", dir=cluster.root)
    sources: dict[str, str] = {}
    for vol in spec.get("volumes") or []:
        path = os.path.join(root, "volumes", vol["name"])
        os.makedirs(path)
        if "secret" in vol:
            secret = cluster.objects[("secrets", ns, vol["secret"]["secretName"])]
            cluster.materialize_secret(path, secret, vol["secret"].get("defaultMode", 0o644))
        else:
            os.chmod(path, 0o777)  # noqa: S103 - an emptyDir is world-writable
        sources[vol["name"]] = path
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: len(m["mountPath"]))
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _MOUNTS, "sh"]
    for m in mounts:
        argv += [sources[m["name"]], m["mountPath"], "ro" if m.get("readOnly") else "rw"]
    argv += ["--", *container.get("command", []), *container.get("args", [])]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": pod["metadata"]["name"]}
    env.update({e["name"]: e.get("value", "") for e in container.get("env") or []})
    popen = subprocess.Popen(
        argv,
        cwd=container.get("workingDir") or "/",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    proc = Proc(popen, root, time.time())
    for stream in (popen.stdout, popen.stderr):
        reader = threading.Thread(target=_read_log, args=(cluster, proc, stream), daemon=True)
        reader.start()
        proc.readers.append(reader)
    cluster.procs[pod["metadata"]["uid"]] = proc
    status.update(phase="Running", startTime=now_iso(proc.started), hostIP="127.0.0.1")
    status["conditions"] = [
        {"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "Ready")
    ]
    pod["status"]["containerStatuses"] = [
        {
            "name": container["name"],
            "image": container["image"],
            "ready": True,
            "restartCount": 0,
            "started": True,
            "state": {"running": {"startedAt": now_iso(proc.started)}},
        }
    ]


def _read_log(cluster: Cluster, proc: Proc, stream: Any) -> None:
    for line in iter(stream.readline, b""):
        with cluster.lock:
            proc.log.append((time.time(), line))
            proc.log_bytes += len(line)
            while proc.log_bytes > LOG_MAX and proc.log:  # the kubelet's log rotation
                proc.log_bytes -= len(proc.log.pop(0)[1])
    stream.close()


def _rss(session: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:  # field 6 of stat: the session id
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss in pages
        except (OSError, IndexError, ValueError):
            continue
    return total


def _watch(cluster: Cluster, pod: dict[str, Any], proc: Proc) -> None:
    if proc.popen.poll() is not None:
        _ended(cluster, pod, proc)
        return
    spec = pod["spec"]
    limit = ((spec["containers"][0].get("resources") or {}).get("limits") or {}).get("memory")
    if limit and _rss(proc.popen.pid) > quantity(limit):
        proc.oom = True
        cluster._signal(proc, signal.SIGKILL)  # the kernel's OOM killer, for the cgroup
    deadline = spec.get("activeDeadlineSeconds")
    if deadline and not proc.deadline and time.time() - proc.started > deadline:
        proc.deadline = True
        cluster._signal(proc, signal.SIGTERM)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if proc.term_sent is not None and time.time() - proc.term_sent > grace:
        cluster._signal(proc, signal.SIGKILL)


def _ended(cluster: Cluster, pod: dict[str, Any], proc: Proc) -> None:
    for reader in proc.readers:
        reader.join(timeout=2)
    code = proc.popen.returncode
    exit_code = code if code >= 0 else 128 - code
    status = pod["status"]
    reason = "Completed" if exit_code == 0 else "Error"
    if proc.oom:
        reason, exit_code = "OOMKilled", 137
    status["phase"] = "Succeeded" if exit_code == 0 and not proc.deadline else "Failed"
    if proc.deadline:
        status.update(
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        )
    if proc.evicted:
        status.update(reason="Evicted", message=proc.evicted)
        status["conditions"].append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": "The node was low on resource: memory.",
            }
        )
    for cond in status.get("conditions") or []:
        if cond["type"] == "Ready":
            cond["status"] = "False"
    container = pod["spec"]["containers"][0]
    status["containerStatuses"] = [
        {
            "name": container["name"],
            "image": container["image"],
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "startedAt": now_iso(proc.started),
                    "finishedAt": now_iso(),
                }
            },
        }
    ]
    cluster.put("pods", pod)


def evict(cluster: Cluster, pod: dict[str, Any]) -> None:
    """Node-pressure eviction by the kubelet (hard threshold: no grace period)."""
    proc = cluster.procs.get(pod["metadata"]["uid"])
    if proc is None:
        return
    proc.evicted = (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 42Mi. "
        f"Container {pod['spec']['containers'][0]['name']} was using 512Mi, request is 0, "
        "has larger consumption of memory."
    )
    cluster._signal(proc, signal.SIGKILL)
