"""Kubernetes: one batch/v1 Job per call, one Indexed Job per map (``JOB_COMPLETION_INDEX``
picks the task, ``parallelism`` is the throttle), the job's files in a Secret.

There is no file system shared by the kernel and the pods, so the job directory stays on
the kernel's machine (``remote_dir``, by default clusterlab's data dir) and:

- **files go in** as a Secret (1 MiB at most; a bigger job is refused with a sentence),
  mounted read-only into an ``emptyDir`` that sits at the same absolute path in the pod,
  where ``remote/k8s_entry.py`` lays out the job dir and runs the runner;
- **status, output and results come back** through the pod's log: the entry prints what
  the runner writes as frames, and :mod:`.k8s_watch` reads logs through the API and puts
  the files back in the kernel's copy (the simplest way that works on every cluster: no
  ReadWriteMany volume, no exec, no write access to the API from the pod);
- **state** comes from ONE label-selected pod list per poll (a Job list only when a task
  has no pod to ask); OOMKilled, evicted, deadline (``activeDeadlineSeconds`` is the time
  limit) and preemption become :class:`Cause` values;
- **dependencies**: Kubernetes has no ``afterok``, so a job with ``after=`` is held by the
  kernel (its files staged, nothing created) and created by the poll that sees every job
  it waits for completed; a failed one cancels it. Only a running kernel (or any process
  watching its jobs, e.g. after ``cl.job(id)``) releases held jobs;
- **cancel** deletes the Job (``propagationPolicy: Background``, so its pods and Secret
  go too); one task of an Indexed Job is cancelled by deleting its pod.

A Job whose results are all back is deleted by the poll that brought them.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import time
from collections.abc import Mapping, Sequence
from importlib import resources as importlib_resources
from typing import Any

from ..common import jobdir
from ..common.errors import ClusterlabError, SubmitError, TransportError
from ..config.profile import Profile
from ..config.pythonspec import python_command
from ..transports.base import Transport
from . import k8s_manifest as mf
from .base import Backend, JobSpec, Observation, WatchTarget
from .k8s_api import KubeApi, KubeError
from .k8s_mirror import file_size
from .k8s_probe import probe
from .k8s_watch import (
    Poller,
    delete_job,
    delete_secret,
    end_file,
    read_json,
    task_pods,
    write_json,
)
from .kubernetes_kind import pod_image

ENTRY_SOURCE = importlib_resources.files("clusterlab.remote").joinpath(mf.ENTRY).read_bytes()
EARLIER_RUN_GONE_S = 60.0  # a resubmission waits this long for its earlier Job to go
STATE_FILE = "k8s.json"  # in the kernel's job dir: the manifest, the files, held or not
_STREAMS = (jobdir.STATUS, jobdir.STDOUT, jobdir.STDERR)
CARRIED_OUTPUT_MAX = 256 * 1024  # an earlier run's stdout+stderr a resubmitted pod starts with


class KubernetesBackend(Backend):
    """Jobs, pods, logs and Secrets in one namespace of one kubeconfig context."""

    kind = "kubernetes"
    push_status = False  # the status files live in the pods, not on this machine

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self.api = KubeApi(profile.kubeconfig, profile.context, profile.namespace)
        self.poller = Poller(self)

    def requeues_by_resubmission(self) -> bool:
        """Kubernetes cannot requeue a pod: an evicted or preempted one gets SIGTERM and is
        deleted; with requeue=True the watcher submits the job again (docs/kubernetes.md)."""
        return True

    # -- what is submitted ----------------------------------------------------------------
    def target(self, job_dir: str) -> mf.Target:
        p = self.profile
        return mf.Target(
            namespace=p.namespace or self.api.namespace,
            image=pod_image(p),
            python=tuple(python_command(p.python) if p.python else ["python3"]),
            service_account=p.service_account,
            node_selector=tuple(
                (k, v) for k, _, v in (pair.partition("=") for pair in p.node_selector)
            ),
            owner=mf.owner_label(job_dir),
        )

    def job_script(self, spec: JobSpec) -> str:
        return mf.shown(mf.job_manifest(spec, self.target(spec.job_dir)))

    def max_array_size(self) -> int:
        return mf.MAX_INDEXED_COMPLETIONS

    def probe_environment(self) -> dict[str, Any] | None:
        """The image's Python and cloudpickle, from a short Job (see :mod:`.k8s_probe`)."""
        root = f"{self.profile.remote_dir or '/clusterlab'}/jobs/probe"
        return probe(self.api, self.target(root))

    # -- submit ---------------------------------------------------------------------------
    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        if jobdir.POOL in files:
            raise SubmitError(
                "workers= (pool mode) needs a file system shared by the workers, and "
                "Kubernetes pods share none: map with chunksize= instead"
            )
        if not pod_image(self.profile):
            raise SubmitError(
                "the profile has no image: set 'image' or 'container' (python3 with cloudpickle)"
            )
        try:
            manifest = mf.job_manifest(spec, self.target(spec.job_dir))
        except ValueError as exc:
            raise SubmitError(str(exc)) from None
        name = manifest["metadata"]["name"]
        earlier = self._clear_earlier_run(spec.job_dir, name)
        carried = carry_earlier_run(spec.job_dir) if earlier else []
        after = []
        for native in spec.after:
            split = self.split_task_id(native)
            job, task = split if split else (native, None)
            root = posixpath.dirname(spec.job_dir.rstrip("/"))
            after.append({"job": job, "task": task, "dir": f"{root}/{job[3:]}"})
        state = {
            "name": name,
            "tasks": spec.array.tasks if spec.array else 0,
            "job": manifest,
            # submitted again (retries=, requeue=True): the files staged the first time,
            # and the earlier run's status (and output) to continue from
            "files": [
                *(
                    [n for n in files if not n.endswith("/")]
                    or [n for n in earlier.get("files", []) if n not in _STREAMS]
                ),
                *carried,
            ],
            "dirs": [n for n in files if n.endswith("/")] or earlier.get("dirs", []),
            "setup": list(spec.setup),
            "after": after,
            "state": "held" if after else "new",
            # the status file's bytes of earlier runs: only what follows is this run's end
            "status_floor": file_size(os.path.join(spec.job_dir, jobdir.STATUS)) if earlier else 0,
        }
        staged = {
            **files,
            jobdir.SCRIPT: mf.shown(manifest).encode(),
            STATE_FILE: json.dumps(state).encode(),
            jobdir.SUBMITTED: f"{name}\n".encode(),  # found again if this kernel dies now
        }
        res = self.transport.stage(spec.job_dir, staged)
        if res.returncode != 0:
            raise SubmitError(
                f"could not create the job directory {spec.job_dir}: {res.err.strip()}. "
                "Check the profile's remote_dir (free space, permissions)."
            )
        if not after:
            self.create(spec.job_dir, state)
        return str(name)

    def _clear_earlier_run(self, job_dir: str, name: str) -> dict[str, Any]:
        """A job submitted again (retries=, requeue=True) keeps its name: its earlier Job
        and Secret go first (deleted only by the uids this job recorded: ours), or the new
        ones would be refused as someone else's. The earlier run's state ({}: none)."""
        earlier = read_json(os.path.join(job_dir, STATE_FILE))
        job_uid, secret_uid = earlier.get("job_uid"), earlier.get("secret_uid")
        if not job_uid and not secret_uid:
            return {}  # a first submission
        for group, resource, uid in (("batch/v1", "jobs", job_uid), ("", "secrets", secret_uid)):
            if not uid:
                continue
            path = self.api.ns_path(group, resource, name)
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
            try:
                self.api.request("DELETE", path, {"propagationPolicy": "Background"}, body=body)
            except KubeError as exc:
                if exc.status not in (404, 409):  # gone, or not ours (another uid)
                    raise SubmitError(f"could not delete its earlier {resource}: {exc}") from None
            deadline = time.monotonic() + EARLIER_RUN_GONE_S
            while self._exists(path, uid):
                if time.monotonic() > deadline:
                    raise SubmitError(
                        f"its earlier run's {resource[:-1]} {name} is still being deleted "
                        f"after {EARLIER_RUN_GONE_S:g} s: wait a minute and submit it again"
                    )
                time.sleep(0.2)
        return earlier

    def _exists(self, path: str, uid: str) -> bool:
        try:
            found = self.api.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise SubmitError(f"could not read {path}: {exc}") from None
        return str((found.get("metadata") or {}).get("uid") or "") == uid

    def create(self, job_dir: str, state: dict[str, Any]) -> None:
        """Create the Secret, then the Job, from the staged files (now, or when released).

        The Secret comes first and is never adopted: a namespace may be shared, and a
        co-tenant who may create Secrets (the stock ``edit`` role) and sees our Job could
        otherwise plant ``cl-<id>`` first and choose the code the pod runs, whose log the
        kernel unpickles. What exists under our names is used only when its uid is the one
        this job recorded when it created it (a retry after an interrupted create)."""
        files = dict.fromkeys(state["dirs"], b"")
        for rel in state["files"]:
            with open(os.path.join(job_dir, rel), "rb") as fh:
                files[rel] = fh.read()
        refs = referenced_files(job_dir, files)
        data = mf.pack(files, refs, state["setup"], ENTRY_SOURCE)
        mf.check_size(data, refs)
        job = state["job"]
        name = job["metadata"]["name"]
        state_path = os.path.join(job_dir, STATE_FILE)
        secret = mf.secret_manifest(name, self._target_of(job), data)
        secret_uid = self._create_own(
            "", "secrets", secret, state.get("secret_uid"), "the job's Secret"
        )
        state["secret_uid"] = secret_uid
        write_json(state_path, state)
        try:
            job_uid = self._create_own("batch/v1", "jobs", job, state.get("job_uid"), "the Job")
        except ClusterlabError:
            delete_secret(self.api, name, secret_uid)
            raise
        state.update(job_uid=job_uid, state="created")
        write_json(state_path, state)
        owner = mf.owner_reference(name, job_uid)
        try:  # deleting the Job (kubectl too) then deletes its Secret
            self.api.request(
                "PATCH",
                self.api.ns_path("", "secrets", name),
                body={"metadata": {"ownerReferences": [owner]}},
            )
        except KubeError as exc:
            if exc.status != 403:  # without patch rights clusterlab deletes it itself
                raise SubmitError(
                    f"Kubernetes refused to link the Secret to its Job: {exc}"
                ) from None
        secret["metadata"]["ownerReferences"] = [owner]
        with open(os.path.join(job_dir, jobdir.SCRIPT), "w") as fh:
            fh.write(mf.shown(job, secret))

    def _create_own(
        self, group: str, resource: str, body: dict[str, Any], known: str | None, what: str
    ) -> str:
        """Create ``body``; its uid. An object of that name made by anyone else (or by us
        without the uid recorded) is refused with a sentence, never used."""
        name = body["metadata"]["name"]
        try:
            created = self.api.request("POST", self.api.ns_path(group, resource), body=body)
        except KubeError as exc:
            if exc.status != 409:
                raise SubmitError(f"Kubernetes refused {what}: {exc}") from None
            existing = self.api.request("GET", self.api.ns_path(group, resource, name))
            uid = str((existing.get("metadata") or {}).get("uid") or "")
            if known and uid == known:
                return uid  # ours: created before this create was interrupted
            ns = body["metadata"]["namespace"]
            kind = body["kind"].lower()
            raise SubmitError(
                f"a {body['kind']} named {name} already exists in namespace {ns!r} and "
                "clusterlab did not create it for this job: it never uses one it did not "
                "make, since whoever made it would choose what the pod runs and what your "
                "kernel loads. If it is a leftover of yours, delete it (`kubectl delete "
                f"{kind} {name} -n {ns}`) and submit again; if others can create {kind}s in "
                "this namespace, use a namespace of your own (see the security page)"
            ) from None
        return str((created.get("metadata") or {}).get("uid") or "")

    def _target_of(self, job: Mapping[str, Any]) -> mf.Target:
        meta = job["metadata"]
        return mf.Target(meta["namespace"], "", owner=meta["labels"][mf.OWNER])

    # -- watch, cancel --------------------------------------------------------------------
    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        return self.poller.poll(targets)

    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        for t in targets:
            split = self.split_task_id(t.native_id)
            state_path = os.path.join(t.job_dir, STATE_FILE)
            state = read_json(state_path)
            if state.get("state") == "held":  # never created: just never release it
                state["state"] = "cancelled"
                write_json(state_path, state)
                continue
            if state.get("state") == "refused":  # nothing of ours exists under its name
                continue
            if split is None:
                delete_job(self.api, t.native_id)
                delete_secret(self.api, t.native_id, state.get("secret_uid"))
                continue
            name, task = split
            with open(os.path.join(t.job_dir, f"k8s-cancel.{task}"), "w"):
                pass  # a pod of this index that appears later is deleted on sight
            query = {"labelSelector": f"{mf.JOB}={name}"}
            pods = self.api.request("GET", self.api.ns_path("", "pods"), query)
            for pod in task_pods(pods.get("items") or [], task):
                self.delete_pod(pod)

    def delete_pod(self, name: str) -> None:
        try:
            self.api.request("DELETE", self.api.ns_path("", "pods", name))
        except KubeError as exc:
            if exc.status != 404:
                raise TransportError(f"kubernetes: deleting pod {name} failed: {exc}") from None

    def describe(self) -> str:
        """The server's version, the context and namespace; and a list call that proves
        jobs may be listed there (403 and missing namespaces are said in a sentence)."""
        version = self.api.request("GET", "/version")
        self.api.request(
            "GET", self.api.ns_path("batch/v1", "jobs"), {"limit": 1, "labelSelector": mf.JOB}
        )
        return (
            f"Kubernetes {version.get('gitVersion', '?')} at {self.api.server}, namespace "
            f"{self.profile.namespace or self.api.namespace}"
        )


def carry_earlier_run(job_dir: str) -> list[str]:
    """A job submitted again keeps its name and job dir, but its new pod starts with an
    empty one: it is given the earlier run's status file (so the runner counts attempts
    and the kernel keeps the history) and its output while small, so that the new pod's
    files continue at the offsets the kernel's copies already have. Output too large for
    the Secret is moved aside (``stdout.earlier``); the new run's output starts afresh.
    The earlier run's end record goes: it is not this run's. Returns the files to carry."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(job_dir, end_file(None)))
    carried = [jobdir.STATUS] if os.path.exists(os.path.join(job_dir, jobdir.STATUS)) else []
    streams = [
        n for n in (jobdir.STDOUT, jobdir.STDERR) if os.path.exists(os.path.join(job_dir, n))
    ]
    if sum(file_size(os.path.join(job_dir, n)) for n in streams) <= CARRIED_OUTPUT_MAX:
        return carried + streams
    for name in streams:
        os.replace(os.path.join(job_dir, name), os.path.join(job_dir, f"{name}.earlier"))
    return carried


def referenced_files(job_dir: str, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Files of this machine's job root that the job's pickles name: results of earlier
    jobs passed as arguments, and stored large arguments (``blobs/``). The pod gets them
    at the same paths, so the runner finds them as on a shared file system."""
    root = mf.mount_root(job_dir).encode()
    pattern = _ref_pattern(root)
    found: dict[str, bytes] = {}
    for name, data in files.items():
        if not name.endswith(".pkl"):
            continue
        for match in pattern.finditer(data):
            path = match.group(0).decode()
            if path.startswith(job_dir.rstrip("/") + "/") or path in found:
                continue
            try:
                with open(path, "rb") as fh:
                    found[path] = fh.read()
            except OSError:
                continue  # the runner says which result is missing
    return found


def _ref_pattern(root: bytes) -> Any:
    import re

    return re.compile(
        re.escape(root)
        + rb"/(?:jobs/[A-Za-z0-9_.-]+/(?:result\.pkl|results/\d+\.pkl)|blobs/[0-9a-f]{64}\.pkl)"
    )
