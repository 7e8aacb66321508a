"""What the Kubernetes backend submits: a batch/v1 Job and the Secret holding its files.

Pure functions (no API calls), so the manifests are golden-file tested and
``job.job_script()`` shows exactly what was sent. Names, labels and the layout inside the
pod are decided here:

- the Job (and its Secret) is named ``cl-<job dir name>``; its pods carry the labels
  ``app.kubernetes.io/managed-by=clusterlab`` and ``clusterlab.io/owner=<this machine's
  jobs root>``, which is what one poll lists;
- an ``emptyDir`` is mounted at the profile's job directory root (the parent of
  ``jobs/``), so inside the pod the job dir has the same absolute path as on the kernel's
  machine and references to earlier results resolve; the Secret is mounted read-only
  inside it at ``.clusterlab-in``, and ``remote/k8s_entry.py`` copies it into place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.errors import ResourceError, SubmitError
from ..config.resources import Resources
from .base import JobSpec

MANAGED = "app.kubernetes.io/managed-by"
OWNER = "clusterlab.io/owner"
JOB = "clusterlab.io/job"
TASKS = "clusterlab.io/tasks"  # pod annotation: the tasks of its Job
THROTTLE = "clusterlab.io/max-concurrent"  # pod annotation: the Job's parallelism cap
INDEX = "batch.kubernetes.io/job-completion-index"  # set by the Job controller
ENTRY = "k8s_entry.py"
CONFIG = "clusterlab.json"  # in the Secret: which key goes where (see remote/k8s_entry.py)
PAYLOAD_DIR = ".clusterlab-in"
CONTAINER = "job"
GPU_RESOURCE = "nvidia.com/gpu"
MAX_SECRET_BYTES = 1024 * 1024  # a Secret's data may hold 1 MiB (etcd's object limit)
MAX_INDEXED_COMPLETIONS = 100_000  # the API refuses larger Indexed Jobs
JOB_TTL = 7 * 86400
"""``ttlSecondsAfterFinished``: Kubernetes deletes a finished Job (its pods, and its Secret
by owner) this long after it ended, also when no kernel ever comes back to collect it. A
watching kernel deletes it as soon as its results are in; ``cl.job(id)`` must reattach
within this time, after which the pods' logs, and so the results, are gone."""
# Directories an emptyDir at the job root would hide from the image: refused as roots.
_SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin"}
_SYSTEM_DIRS |= {"/sys", "/usr", "/var", "/opt", "/home", "/root", "/run", "/srv"}
_SYSTEM_DIRS.add("/tmp")  # noqa: S108 - a directory the volume must not hide
_KEY_RE = re.compile(r"[^-._a-zA-Z0-9]")
_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@-]*\Z")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


@dataclass(frozen=True)
class Target:
    """Where and how a profile's pods run (the profile's kubernetes fields, resolved)."""

    namespace: str
    image: str
    python: tuple[str, ...] = ("python3",)
    service_account: str = ""
    node_selector: tuple[tuple[str, str], ...] = ()
    owner: str = ""  # the owner label of this machine's jobs


def job_name(job_dir: str) -> str:
    """``cl-<job dir name>``: a DNS label, so also a valid Job, Secret and label value."""
    base = re.sub(r"[^a-z0-9-]", "-", posixpath.basename(job_dir.rstrip("/")).lower())
    return f"cl-{base}"[:63].rstrip("-")


def mount_root(job_dir: str) -> str:
    """The directory the pod's ``emptyDir`` is mounted at: the jobs root's parent."""
    return posixpath.dirname(posixpath.dirname(job_dir.rstrip("/")))


def labels(target: Target, name: str) -> dict[str, str]:
    return {MANAGED: "clusterlab", OWNER: target.owner, JOB: name}


def selector(target: Target) -> str:
    """The label selector of every pod and Job this machine's jobs root made here."""
    return f"{MANAGED}=clusterlab,{OWNER}={target.owner}"


def container_resources(r: Resources) -> dict[str, dict[str, str]]:
    """Requests = limits (cpu, memory, GPUs), or a sentence for what Kubernetes lacks."""
    if r.partition:
        raise ResourceError(
            f"partition={r.partition!r}: Kubernetes has no partitions or queues; choose "
            "nodes with the profile's node_selector (e.g. ['pool=gpu'])"
        )
    if r.account:
        raise ResourceError(
            f"account={r.account!r}: Kubernetes has no accounts; quotas belong to the "
            "namespace (the profile's namespace field)"
        )
    if r.nodes and r.nodes > 1:
        raise ResourceError(
            f"nodes={r.nodes}: a Kubernetes Job's pod runs on one node; ask for cores= "
            "instead, or use a multi-node operator (MPIJob, JobSet) outside clusterlab"
        )
    if r.extra:
        raise ResourceError(
            f"extra={list(r.extra)!r}: Kubernetes takes no batch options; put node choices "
            "in the profile's node_selector"
        )
    amounts: dict[str, str] = {}
    if r.cores:
        amounts["cpu"] = str(r.cores)
    if r.memory_mb:
        amounts["memory"] = f"{r.memory_mb}Mi"
    out: dict[str, dict[str, str]] = {}
    if amounts:
        out["requests"] = dict(amounts)
    if r.gpus:
        amounts[GPU_RESOURCE] = str(r.gpus)  # extended resources: the limit is the request
    if amounts:
        out["limits"] = amounts
    return out


def check_mount(root: str, python: Sequence[str]) -> None:
    """Refuse a job directory whose volume would hide the image's own files."""
    if root in _SYSTEM_DIRS or not root.startswith("/"):
        raise SubmitError(
            f"the profile's job directory root {root!r} would be mounted over the image's "
            f"{root} in the pod: set remote_dir to a directory of its own, e.g. "
            "'/tmp/clusterlab' or '~/.clusterlab'"
        )
    if python and (python[0] == root or python[0].startswith(root.rstrip("/") + "/")):
        raise SubmitError(
            f"the profile's python {python[0]!r} lies under the job directory root {root!r}, "
            "which the pod mounts an empty volume over: use the image's Python (e.g. "
            "'python3') or another remote_dir"
        )


def job_manifest(spec: JobSpec, target: Target) -> dict[str, Any]:
    """The batch/v1 Job for ``spec``: one pod, or an Indexed Job for an array."""
    name = job_name(spec.job_dir)
    root = mount_root(spec.job_dir)
    check_mount(root, target.python)
    tag = labels(target, name)
    pod_annotations: dict[str, str] = {}
    env = [
        {"name": "CLUSTERLAB_JOB_DIR", "value": spec.job_dir},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    job_spec: dict[str, Any] = {"ttlSecondsAfterFinished": JOB_TTL}
    if spec.array:
        tasks, limit = spec.array.tasks, spec.array.max_concurrent
        if tasks > MAX_INDEXED_COMPLETIONS:
            raise SubmitError(f"{tasks} tasks: an Indexed Job may have at most 100000")
        job_spec.update(
            completionMode="Indexed",
            completions=tasks,
            parallelism=min(limit, tasks) if limit else tasks,
            backoffLimitPerIndex=0,  # a failed task fails alone; the others go on
        )
        pod_annotations = {TASKS: str(tasks), THROTTLE: str(limit)}
        env.append({"name": "CLUSTERLAB_ARRAY", "value": "1"})
    else:
        job_spec["backoffLimit"] = 0  # no retries: a job runs once, as on a batch system
    payload = f"{root}/{PAYLOAD_DIR}"
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": target.image,
        "command": [*target.python, f"{payload}/{ENTRY}"],
        "env": env,
        "resources": container_resources(spec.resources),
        # What Pod Security's "baseline"/"restricted" levels ask, harmless to Python code
        # (runAsNonRoot is the image's choice: USER in its Dockerfile).
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "jobs", "mountPath": root},
            {"name": "payload", "mountPath": payload, "readOnly": True},
        ],
    }
    pod: dict[str, Any] = {"restartPolicy": "Never"}
    if spec.resources.time_s:
        pod["activeDeadlineSeconds"] = spec.resources.time_s  # per pod, like a walltime
    if target.service_account:
        pod["serviceAccountName"] = target.service_account
    if target.node_selector:
        pod["nodeSelector"] = dict(target.node_selector)
    pod["containers"] = [container]
    pod["volumes"] = [
        {"name": "jobs", "emptyDir": {}},
        {"name": "payload", "secret": {"secretName": name}},
    ]
    template: dict[str, Any] = {"metadata": {"labels": dict(tag)}, "spec": pod}
    if pod_annotations:
        template["metadata"]["annotations"] = pod_annotations
    job_spec["template"] = template
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": tag,
            "annotations": {"clusterlab.io/name": spec.name, "clusterlab.io/id": spec.job_id},
        },
        "spec": job_spec,
    }


def secret_key(path: str) -> str:
    """A Secret key for a job-dir file (keys allow letters, digits, '-', '_', '.')."""
    return _KEY_RE.sub("_", path).lstrip(".") or "_"


def pack(
    files: Mapping[str, bytes],
    refs: Mapping[str, bytes],
    setup: Sequence[str],
    entry: bytes,
) -> dict[str, bytes]:
    """The Secret's data: the job's files, results it reads (by absolute path), the entry
    program and ``clusterlab.json`` saying where each key goes."""
    data: dict[str, bytes] = {ENTRY: entry}
    where: dict[str, str] = {}
    dirs = [name.rstrip("/") for name in files if name.endswith("/")]
    for name, content in files.items():
        if name.endswith("/"):
            continue
        key = secret_key(name)
        while key in data or key == CONFIG:
            key = f"_{key}"
        data[key], where[key] = content, name
    for n, (path, content) in enumerate(sorted(refs.items())):
        data[f"ref-{n}.pkl"], where[f"ref-{n}.pkl"] = content, path
    config = {"files": where, "dirs": dirs, "setup": list(setup)}
    data[CONFIG] = json.dumps(config, indent=1).encode()
    return data


def check_size(data: Mapping[str, bytes], refs: Mapping[str, bytes]) -> None:
    """Refuse a job whose files cannot travel in one Secret, saying what is large."""
    total = sum(len(k) + len(v) for k, v in data.items())
    if total <= MAX_SECRET_BYTES:
        return
    biggest = max(data, key=lambda k: len(data[k]))
    from_refs = sum(len(v) for v in refs.values())
    detail = (
        f", {from_refs / 2**20:.1f} MiB of them results of earlier jobs it reads" if refs else ""
    )
    raise SubmitError(
        f"this job's files are {total / 2**20:.1f} MiB{detail} (the largest: "
        f"{biggest}, {len(data[biggest]) / 2**20:.1f} MiB), but Kubernetes carries them in a "
        "Secret, which holds at most 1 MiB: pass large data by reference (a path or URL "
        "the pod can read: object storage, a volume in the image), or map in smaller "
        "chunks (chunksize=)"
    )


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """A reference to Job ``name``: what it owns goes when it is deleted."""
    return {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}


def secret_manifest(name: str, target: Target, data: Mapping[str, bytes]) -> dict[str, Any]:
    """The Secret of Job ``name``, immutable. It is created before the Job (whose uid does
    not exist yet), so its owner reference is added once the Job is created."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": labels(target, name),
        },
        "type": "Opaque",
        "immutable": True,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def shown(job: Mapping[str, Any], secret: Mapping[str, Any] | None = None) -> str:
    """The Job and (its data elided) the Secret as YAML: what ``job.job_script()`` shows."""
    text = "# the Job clusterlab submits (kubectl get job NAME -o yaml shows it live)\n"
    text += to_yaml(job)
    if secret is not None:
        elided = dict(secret)
        elided["data"] = {
            k: f"<{len(base64.b64decode(v))} bytes>" for k, v in secret["data"].items()
        }
        text += "---\n# its Secret: the job's files (values elided here)\n" + to_yaml(elided)
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_RE.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small, deterministic YAML emitter for JSON-like manifests."""
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return f"{pad}{{}}\n"
        out = ""
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                out += f"{pad}{_scalar(key)}:\n{to_yaml(item, indent + 2)}"
            else:
                out += f"{pad}{_scalar(key)}: {to_yaml(item).strip()}\n"
        return out
    if isinstance(value, list):
        if not value:
            return f"{pad}[]\n"
        out = ""
        for item in value:
            body = to_yaml(item, indent + 2)
            out += (
                f"{pad}- {body.lstrip()}"
                if isinstance(item, Mapping | list) and item
                else (f"{pad}- {body.strip()}\n")
            )
        return out
    return f"{pad}{_scalar(value)}\n"


def owner_label(job_dir: str) -> str:
    """The owner label of the jobs under one jobs root (what one poll lists)."""
    root = posixpath.dirname(job_dir.rstrip("/"))
    return hashlib.sha256(root.encode()).hexdigest()[:20]
