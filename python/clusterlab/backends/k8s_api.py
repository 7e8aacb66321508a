"""The Kubernetes API as the backend uses it: a few REST calls, JSON in and out.

The official ``kubernetes`` package (the ``clusterlab[kubernetes]`` extra, imported only
here and only when a kubernetes profile is used) does what is hard to get right: it reads
kubeconfig files (``$KUBECONFIG`` lists merged), picks the context, runs exec credential
plugins (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``) and refreshes
their tokens before they expire, and sets up TLS and proxies. Inside a pod (JupyterHub on
Kubernetes) without a kubeconfig it uses the pod's service account.

Requests go through the connection pool it configures, as plain REST calls whose JSON is
parsed here: the generated model classes would turn every pod of a list into objects
(slow for big lists) and their signatures change between releases. Nothing is written to
the kubeconfig (``persist_config=False``); certificate data that Python's ``ssl`` can
only read from files is written by the library to a private directory in ``/dev/shm``
(memory, not disk) where it exists, and removed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from ..common.errors import ClusterlabError, TransportError

INSTALL = "pip install 'clusterlab[kubernetes]'"
SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TIMEOUT = 30.0


class KubeError(ClusterlabError):
    """The API server answered with an error: ``status`` and its ``reason`` code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


def _library() -> tuple[Any, Any]:
    try:
        client = importlib.import_module("kubernetes.client")
        config = importlib.import_module("kubernetes.config")
    except ImportError:
        raise ClusterlabError(
            f"a kubernetes profile needs the kubernetes client: run `{INSTALL}` in the "
            "kernel's environment, then restart the kernel"
        ) from None
    return client, config


def _secret_dir() -> str | None:
    """A private directory in memory for client-certificate files, if /dev/shm exists."""
    shm = "/dev/shm"  # noqa: S108 - memory, on purpose: private dir made by mkdtemp
    if not os.path.isdir(shm):
        return None
    path = tempfile.mkdtemp(prefix="clusterlab-kube-", dir=shm)
    atexit.register(shutil.rmtree, path, True)
    return path


class KubeApi:
    """One cluster (a kubeconfig context) and one namespace, loaded on first use."""

    def __init__(self, kubeconfig: str = "", context: str = "", namespace: str = "") -> None:
        self.kubeconfig = os.path.expanduser(kubeconfig) if kubeconfig else ""
        self.context = context
        self._namespace = namespace
        self._lock = threading.Lock()
        self._pool: Any = None
        self._config: Any = None
        self.server = ""
        self._secrets: str | None = None
        self.calls = 0  # requests made (tests and benchmarks count them)

    # -- configuration ------------------------------------------------------------------------
    def _load(self) -> None:
        client, config = _library()
        cfg = client.Configuration()
        self._secrets = _secret_dir()
        path = self.kubeconfig or os.environ.get("KUBECONFIG", "") or "~/.kube/config"
        paths = [os.path.expanduser(p) for p in path.split(os.pathsep) if p]
        where = "in-cluster"
        try:
            if any(os.path.exists(p) for p in paths) or self.context:
                config.load_kube_config(
                    config_file=os.pathsep.join(paths),
                    context=self.context or None,
                    client_configuration=cfg,
                    persist_config=False,
                    temp_file_path=self._secrets,
                )
                where = f"context {self._context_name(config, paths)}"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
            else:
                raise ClusterlabError(
                    f"no kubeconfig at {os.pathsep.join(paths)} and not inside a pod: set the "
                    "profile's kubeconfig (e.g. '~/.kube/config'), or get one with `aws eks "
                    "update-kubeconfig`, `gcloud container clusters get-credentials` or `az "
                    "aks get-credentials`"
                )
        except config.ConfigException as exc:
            raise ClusterlabError(
                f"cannot use the kubeconfig {os.pathsep.join(paths)}"
                f"{f' with context {self.context!r}' if self.context else ''}: {exc}. "
                "`kubectl config get-contexts` lists the contexts it has."
            ) from None
        if self._secrets:  # kept only when certificate files were written into it
            with contextlib.suppress(OSError):
                os.rmdir(self._secrets)
        self._config = cfg
        self._pool = client.rest.RESTClientObject(cfg).pool_manager
        self.server = f"{cfg.host} ({where})"
        if not self._namespace:
            self._namespace = self._default_namespace(config, paths)

    def _context_name(self, config: Any, paths: list[str]) -> str:
        if self.context:
            return self.context
        try:
            _, active = config.list_kube_config_contexts(config_file=os.pathsep.join(paths))
            return str(active["name"])
        except Exception:
            return "(current)"

    def _default_namespace(self, config: Any, paths: list[str]) -> str:
        """The context's namespace, the pod's own inside a cluster, else 'default'."""
        if self.server.endswith("(in-cluster)"):
            try:
                with open(SA_NAMESPACE) as fh:
                    return fh.read().strip() or "default"
            except OSError:
                return "default"
        try:
            contexts, active = config.list_kube_config_contexts(config_file=os.pathsep.join(paths))
            chosen = next((c for c in contexts if c["name"] == self.context), active)
            return str(chosen.get("context", {}).get("namespace") or "default")
        except Exception:
            return "default"

    @property
    def namespace(self) -> str:
        self._ensure()
        return self._namespace

    def _ensure(self) -> None:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._load()

    # -- requests -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        raw: bool = False,
        timeout: float = TIMEOUT,
    ) -> Any:
        """One call; JSON (or bytes when ``raw``), or KubeError with the server's message."""
        self._ensure()
        headers = {"Accept": "application/json", "User-Agent": "clusterlab"}
        for auth in self._config.auth_settings().values():  # refreshes expiring tokens
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        data = None
        if body is not None:
            merge = method == "PATCH"  # a JSON merge patch: only the fields it names change
            headers["Content-Type"] = (
                "application/merge-patch+json" if merge else "application/json"
            )
            data = json.dumps(body).encode()
        url = self._config.host.rstrip("/") + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        self.calls += 1
        try:
            import urllib3

            resp = self._pool.request(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(connect=10.0, read=timeout),
                retries=False,
                preload_content=True,
            )
        except Exception as exc:
            raise TransportError(
                f"cannot reach the Kubernetes API server at {self._config.host}: {exc}"
            ) from None
        if resp.status >= 400:
            raise _error(resp.status, resp.data, self._namespace)
        if raw:
            return bytes(resp.data)
        return json.loads(resp.data) if resp.data else {}

    def ns_path(self, group: str, resource: str, name: str = "", sub: str = "") -> str:
        """``/api/v1/namespaces/NS/pods/NAME/log`` and friends."""
        base = "/api/v1" if group == "" else f"/apis/{group}"
        path = f"{base}/namespaces/{quote(self.namespace, safe='')}/{resource}"
        if name:
            path += f"/{quote(name, safe='')}"
        return path + (f"/{sub}" if sub else "")


def _error(status: int, data: bytes, namespace: str) -> KubeError:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    reason = str(doc.get("reason") or "")
    message = str(doc.get("message") or data[:300].decode("utf-8", "replace")).strip()
    if status == 401:
        message = (
            f"the API server refused your credentials (401 Unauthorized: {message}); log in "
            "again (`aws eks update-kubeconfig`, `gcloud container clusters get-credentials`, "
            "`az aks get-credentials` / `kubelogin`) or pick another context"
        )
    elif status == 403:
        message = (
            f"Kubernetes does not let you do this in namespace {namespace!r} (403 Forbidden: "
            f"{message}); clusterlab needs jobs (create, list, delete), pods (list, delete), "
            "pods/log (get) and secrets (create, get, patch, delete): ask your admins for a "
            "Role with these"
        )
    elif status == 404 and "namespaces" in message and f'"{namespace}"' in message:
        message = (
            f"the namespace {namespace!r} does not exist on this cluster: set the profile's "
            "namespace (`kubectl get namespaces` lists them)"
        )
    return KubeError(status, reason, message)
