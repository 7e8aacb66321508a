"""The FAKE cluster behind tests/fakek8s: object store, Job controller, one "node".

This is NOT Kubernetes. It models what clusterlab's Kubernetes backend relies on, closely
enough to catch mistakes in the manifests and in reading pod states:

- a Job controller: NonIndexed Jobs (completions 1) and Indexed Jobs (completionMode
  Indexed, ``parallelism`` caps active pods, lowest pending indexes first,
  ``JOB_COMPLETION_INDEX`` in the environment, the ``batch.kubernetes.io/
  job-completion-index`` label and annotation), ``backoffLimit`` (BackoffLimitExceeded)
  and ``backoffLimitPerIndex`` (failedIndexes, FailedIndexes), Job-level
  ``activeDeadlineSeconds`` (DeadlineExceeded), conditions Complete/Failed;
- a kubelet on one node ``fakek8s-node``: pods wait (ContainerCreating) until their Secret
  exists, are unschedulable when their nodeSelector or requests do not fit (with the
  scheduler's message), run their container command as a LOCAL PROCESS in a private
  mount namespace (``unshare -m``) where each volume is a temp dir bind-mounted at its
  ``mountPath`` (emptyDir empty, Secret volumes laid out with ``..data`` symlinks, read-only),
  so the pod sees what a real one sees and nothing of the kernel's files under a mount;
  ``resources.limits.memory`` is enforced by killing the pod's processes when their RSS
  exceeds it (terminated reason OOMKilled, exit 137); the pod's ``activeDeadlineSeconds``
  ends it with reason DeadlineExceeded; stdout+stderr form the pod's log (capped like the
  kubelet's ``containerLogMaxSize``);
- the TTL controller: a finished Job with ``ttlSecondsAfterFinished`` is deleted that
  long after it finished (Background);
- garbage collection by ownerReferences: deleting a Job with propagationPolicy Background
  or Foreground deletes its pods (SIGTERM, then SIGKILL after the grace period) and
  Secrets; Orphan (the batch/v1 default!) leaves them running.

Images are not pulled: the command runs on this machine. An image whose name contains
``does-not-exist`` fails to pull (ErrImagePull, then ImagePullBackOff).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

NODE = "fakek8s-node"
NODE_LABELS = {
    "kubernetes.io/hostname": NODE,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "pool": "default",
}
ALLOCATABLE = {"cpu": 16.0, "memory": 32 * 2**30, "nvidia.com/gpu": 0.0}
TICK = 0.05
INDEX = "batch.kubernetes.io/job-completion-index"
LOG_MAX = int(os.environ.get("FAKEK8S_LOG_MAX", str(10 * 2**20)))
# Bind-mount each "SRC DST ro|rw" triple (parents first), then exec the command.
_MOUNTS = r"""
set -e
while [ "$1" != "--" ]; do
  mkdir -p -- "$2"
  mount --bind -- "$1" "$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro -- "$2"; fi
  shift 3
done
shift
exec "$@"
"""


def now_iso(t: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(text: Any) -> float:
    """A Kubernetes quantity ('500m', '4', '8192Mi', '1G') as a number."""
    s = str(text)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    units.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})
    for suffix in sorted(units, key=len, reverse=True):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * units[suffix]
    return float(s)


def ranges(indexes: set[int]) -> str:
    """'0-2,5': how a Job's status lists completed or failed indexes."""
    out, run = [], []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


@dataclass
class Proc:
    """What the fake kubelet keeps about a running container."""

    popen: subprocess.Popen[bytes]
    root: str
    started: float
    log: list[tuple[float, bytes]] = field(default_factory=list)
    log_bytes: int = 0
    oom: bool = False
    deadline: bool = False
    evicted: str = ""
    term_sent: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Cluster:
    """Objects by (kind, namespace, name); a controller thread ticks them forward."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.namespaces = {"default", "team-a", "team-b"}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.procs: dict[str, Proc] = {}  # pod uid -> its process
        self.failures: dict[str, dict[int, int]] = {}  # job uid -> index -> failed pods
        self.counted: set[str] = set()  # pod uids a Job controller has counted
        self.rv = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fakek8s", daemon=True)
        self._thread.start()

    # -- store --------------------------------------------------------------------------------
    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[(kind, meta["namespace"], meta["name"])] = obj
        return obj

    def new(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
        meta["_created"] = time.time()
        return self.put(kind, obj)

    def items(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            o
            for (k, ns, _), o in sorted(self.objects.items(), key=lambda kv: kv[0])
            if k == kind and (namespace is None or ns == namespace)
        ]

    def owned_by(self, uid: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (k, o)
            for (k, _, _), o in list(self.objects.items())
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    # -- deletion -----------------------------------------------------------------------------
    def delete(self, kind: str, namespace: str, name: str, policy: str, grace: int | None) -> None:
        obj = self.objects[(kind, namespace, name)]
        uid = obj["metadata"]["uid"]
        if kind == "pods":
            self._delete_pod(obj, grace)
            return
        if kind == "jobs" and policy == "Foreground":
            obj["metadata"]["deletionTimestamp"] = now_iso()
            obj["metadata"]["finalizers"] = ["foregroundDeletion"]
            for k, dep in self.owned_by(uid):
                self.delete(k, namespace, dep["metadata"]["name"], "Background", None)
            return
        del self.objects[(kind, namespace, name)]
        for k, dep in self.owned_by(uid):
            if policy == "Orphan":
                dep["metadata"]["ownerReferences"] = [
                    r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid
                ]
            else:
                self.delete(k, namespace, dep["metadata"]["name"], "Background", None)

    def _delete_pod(self, pod: dict[str, Any], grace: int | None) -> None:
        meta = pod["metadata"]
        proc = self.procs.get(meta["uid"])
        if proc is None or proc.popen.poll() is not None:
            self._forget_pod(pod)
            return
        if "deletionTimestamp" not in meta:
            period = (
                grace if grace is not None else pod["spec"].get("terminationGracePeriodSeconds", 30)
            )
            meta["deletionTimestamp"] = now_iso()
            meta["deletionGracePeriodSeconds"] = period
            self._signal(proc, signal.SIGTERM)

    def _forget_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta["uid"] not in self.counted:  # the Job controller still counts it
            self.counted.add(meta["uid"])
            index = int((meta.get("annotations") or {}).get(INDEX, 0))
            for ref in meta.get("ownerReferences") or []:
                if pod["status"].get("phase") == "Succeeded":
                    for job in self.items("jobs", meta["namespace"]):
                        if job["metadata"]["uid"] == ref.get("uid"):
                            job["metadata"].setdefault("_done", []).append(index)
                else:  # deleted before it succeeded: a failure, as for the real controller
                    failures = self.failures.setdefault(ref.get("uid", ""), {})
                    failures[index] = failures.get(index, 0) + 1
        self.objects.pop(("pods", meta["namespace"], meta["name"]), None)
        proc = self.procs.pop(meta["uid"], None)
        if proc is not None:
            self._signal(proc, signal.SIGKILL)
            shutil.rmtree(proc.root, ignore_errors=True)

    @staticmethod
    def _signal(proc: Proc, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signum)
        if signum == signal.SIGTERM and proc.term_sent is None:
            proc.term_sent = time.time()

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        from .controller import tick

        while not self._stop.wait(TICK):
            with self.lock:
                try:
                    tick(self)
                except Exception as exc:  # a fake's bug must show, not hang the tests
                    print(f"fakek8s: controller error: {exc!r}", flush=True)
                    raise

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self.lock:
            for uid, proc in list(self.procs.items()):
                self._signal(proc, signal.SIGKILL)
                proc.popen.wait(timeout=10)
                shutil.rmtree(proc.root, ignore_errors=True)
                del self.procs[uid]

    # -- volumes ------------------------------------------------------------------------------
    def materialize_secret(self, dest: str, secret: dict[str, Any], mode: int) -> None:
        """A Secret volume as the kubelet lays it out: ``..<stamp>/KEY`` files, ``..data``
        pointing at them and ``KEY -> ..data/KEY`` links."""
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{secrets.token_hex(4)}"
        os.makedirs(os.path.join(dest, stamp))
        for key, value in (secret.get("data") or {}).items():
            path = os.path.join(dest, stamp, key)
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(value))
            os.chmod(path, mode)
            os.symlink(os.path.join("..data", key), os.path.join(dest, key))
        os.symlink(stamp, os.path.join(dest, "..data"))
