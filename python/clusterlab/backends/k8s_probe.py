"""``profiles.check`` for Kubernetes: run the profile's image once and ask its Python.

The kernel's machine says nothing about the image, so the check creates a short Job (no
Secret, no volumes) that prints the image's Python version and cloudpickle's, reads the
answer from the pod's log and deletes the Job. It proves at the same time that the image
can be pulled and scheduled with the profile's node selector and service account, and
that the namespace lets you create Jobs and read pod logs.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..common.errors import RemoteEnvironmentError
from .k8s_api import KubeApi
from .k8s_manifest import CONTAINER, MANAGED, Target
from .k8s_status import pod_view
from .k8s_watch import delete_job

PROBE = (
    "import sys, json\n"
    "try:\n    import cloudpickle; cp = cloudpickle.__version__\n"
    "except ImportError:\n    cp = None\n"
    "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'cloudpickle': cp,"
    " 'executable': sys.executable}))\n"
)
WAIT_SECONDS = 180.0  # an image pull on a fresh node can take minutes
_HOPELESS = {"ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}


def probe_manifest(name: str, target: Target) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": int(WAIT_SECONDS),
        "containers": [
            {"name": CONTAINER, "image": target.image, "command": [*target.python, "-c", PROBE]}
        ],
    }
    if target.service_account:
        pod["serviceAccountName"] = target.service_account
    if target.node_selector:
        pod["nodeSelector"] = dict(target.node_selector)
    labels = {MANAGED: "clusterlab", "clusterlab.io/probe": name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 300,  # gone even if this kernel dies meanwhile
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def probe(api: KubeApi, target: Target) -> dict[str, Any]:
    """What the image's Python reports; RemoteEnvironmentError saying why it could not."""
    name = f"cl-probe-{secrets.token_hex(4)}"
    api.request("POST", api.ns_path("batch/v1", "jobs"), body=probe_manifest(name, target))
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        why = "Kubernetes did not start it"
        while time.monotonic() < deadline:
            query = {"labelSelector": f"clusterlab.io/probe={name}"}
            pods = api.request("GET", api.ns_path("", "pods"), query).get("items") or []
            views = [pod_view(p) for p in pods]
            ended = [v for v in views if v.terminal]
            if ended:
                log = api.request(
                    "GET",
                    api.ns_path("", "pods", ended[0].name, "log"),
                    {"container": CONTAINER},
                    raw=True,
                )
                lines = log.decode("utf-8", "replace").strip().splitlines()
                try:
                    info: dict[str, Any] = json.loads(lines[-1])
                    return info
                except (IndexError, ValueError):
                    raise RemoteEnvironmentError(
                        f"{target.python[0]} could not run in the image {target.image} "
                        f"({ended[0].reason or 'no reason'}): {log[-300:]!r}. Set the "
                        "profile's python to the image's interpreter (e.g. 'python3')."
                    ) from None
            if views and views[0].reason:
                why = views[0].reason
                if views[0].raw.split()[-1] in _HOPELESS:  # the kubelet already retried
                    break
            time.sleep(0.5)
        raise RemoteEnvironmentError(f"the image {target.image} did not run: {why}")
    finally:
        delete_job(api, name)
