"""fakek8s: a FAKE Kubernetes API server for tests (no API server can run on this machine:
kind, k3s, kwok and minikube all download binaries or images).

It serves the small part of the REST API that clusterlab's Kubernetes backend uses
(:mod:`.server`) and really runs the pods it creates, as local processes in private mount
namespaces (:mod:`.cluster`, :mod:`.controller`), so the conformance suite exercises the
backend end to end: manifests, Secrets, logs, states and reasons. It needs ``unshare`` and
``mount`` (root) for the pods' volumes.

Usage::

    fake = FakeKube(tmp_path)           # listening on 127.0.0.1:<random port>
    fake.kubeconfig                     # two contexts: fake-a (team-a), fake-b (team-b)
    fake.stop()
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .cluster import Cluster
from .server import Handler

# Context fake-b authenticates like EKS/GKE/AKS do: an exec credential plugin prints the
# token (no token in the file). Context fake-a has a static token.
_EXEC_PLUGIN = (
    "import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
    "'kind': 'ExecCredential', 'status': {'token': 'bob-token', "
    "'expirationTimestamp': '2099-01-01T00:00:00Z'}}))"
)


def unshare_works() -> str:
    """'' when pods can get private mounts here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "--bind", "/", "/mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if res.returncode == 0 else f"unshare -m failed: {res.stderr.strip()}"


def fake_node(name: str, cpu: str, memory: str, gpus: int = 0, ready: bool = True) -> dict:
    """A Node object as ``kubectl get node -o json`` shows one (the fields discovery reads)."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": allocatable,
            "capacity": dict(allocatable),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def fake_quota(namespace: str, hard: dict[str, str], used: dict[str, str]) -> dict:
    """A ResourceQuota object with its status, as the real server keeps it."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": namespace},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }


class FakeKube:
    """A fake API server on 127.0.0.1 and its cluster; ``calls`` logs every request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.cluster = Cluster(str(root))
        self.users = {"Bearer alice-token": "alice", "Bearer bob-token": "bob"}
        self.forbidden: set[tuple[str, str, str]] = set()  # (user, verb, resource)
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        # fake-only: called with (kind, object) after each create (a co-tenant's reaction)
        self.on_create: Callable[[str, dict[str, Any]], None] | None = None
        # fake-only: the cluster's nodes (GET /api/v1/nodes) and each namespace's
        # ResourceQuota objects (GET .../resourcequotas), as the real server lists them
        self.nodes: list[dict[str, Any]] = [
            fake_node("fake-node-1", cpu=str(os.cpu_count() or 1), memory="16Gi")
        ]
        self.quotas: dict[str, list[dict[str, Any]]] = {}
        handler = type("FakeKubeHandler", (Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        self.kubeconfig = str(root / "kubeconfig")
        self.write_kubeconfig(self.kubeconfig)

    def write_kubeconfig(self, path: str) -> None:
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [
                {"name": "alice", "user": {"token": "alice-token"}},
                {
                    "name": "bob",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1",
                            "command": sys.executable,
                            "args": ["-c", _EXEC_PLUGIN],
                            "interactiveMode": "Never",
                        }
                    },
                },
            ],
            "contexts": [
                {
                    "name": "fake-a",
                    "context": {"cluster": "fake", "user": "alice", "namespace": "team-a"},
                },
                {
                    "name": "fake-b",
                    "context": {"cluster": "fake", "user": "bob", "namespace": "team-b"},
                },
            ],
            "current-context": "fake-a",
        }
        with open(path, "w") as fh:
            json.dump(config, fh, indent=1)  # JSON is YAML: kubectl and clients read it
        os.chmod(path, 0o600)

    def forbid(self, user: str, verb: str, resource: str) -> None:
        self.forbidden.add((user, verb, resource))

    def objects(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        with self.cluster.lock:
            return [dict(o) for o in self.cluster.items(kind, namespace)]

    def count(self, method: str, suffix: str) -> int:
        """Requests so far whose path ends with ``suffix`` (e.g. '/pods')."""
        return sum(1 for m, path, _ in self.calls if m == method and path.endswith(suffix))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.cluster.stop()
