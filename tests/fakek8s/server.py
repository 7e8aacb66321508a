"""The FAKE API server's HTTP face: the subset of the Kubernetes REST API clusterlab uses.

Served on 127.0.0.1 (a random port) by the standard library's http.server:

- ``GET /version``
- ``/apis/batch/v1/namespaces/NS/jobs``: POST, GET (``labelSelector``), GET/DELETE NAME
  (``propagationPolicy`` from the query or a DeleteOptions body; batch/v1's default is
  Orphan, with the real server's warning)
- ``/api/v1/namespaces/NS/pods``: GET (``labelSelector``), GET/DELETE NAME, GET
  NAME/log (``container``, ``sinceSeconds``, ``sinceTime``, ``tailLines``, ``limitBytes``,
  ``timestamps``)
- ``/api/v1/namespaces/NS/secrets``: POST (1 MiB limit, key syntax), GET/DELETE NAME
  (DeleteOptions ``preconditions.uid``: 409 when it differs), PATCH NAME (a JSON merge
  patch of ``metadata.ownerReferences``/``labels``; ``data`` of an immutable Secret: 422)
- ``FakeKube.on_create`` (fake-only): called with (kind, object) after each create, as a
  co-tenant watching the namespace would react
- fake-only: ``POST /fakek8s/evict/NS/POD`` (node-pressure eviction of a pod)

Bearer tokens are checked (401 otherwise); ``FakeKube.forbid`` makes a verb on a
resource answer 403. Errors are ``Status`` objects like the real server's.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from .cluster import Cluster
from .controller import evict

if TYPE_CHECKING:
    from . import FakeKube

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ROUTE = re.compile(
    r"^/(?:api/v1|apis/batch/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>jobs|pods|secrets)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fakek8s", "platform": "linux/amd64"}
KINDS = {"jobs": ("Job", "batch/v1"), "pods": ("Pod", "v1"), "secrets": ("Secret", "v1")}
MAX_SECRET = 1024 * 1024


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def public(obj: Any) -> Any:
    """A stored object without the fake's own bookkeeping (keys starting with '_')."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality (=, ==, !=), set (in, notin) and existence (key, !key) requirements."""
    for req in re.findall(r"[^,(]+(?:\([^)]*\))?", selector or ""):
        req = req.strip()
        if not req:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$", req)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            inside = labels.get(m.group(1)) in values
            if inside != (m.group(2) == "in"):
                return False
        elif "!=" in req:
            key, value = req.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in req:
            key, value = re.split(r"==?", req, maxsplit=1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True


def validate(kind: str, obj: dict[str, Any]) -> None:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    problems = []
    limit = 63 if kind == "jobs" else 253  # a Job's name becomes its pods' job-name label
    if not NAME_RE.match(name) or len(name) > limit:
        problems.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 name")
    for key, value in (meta.get("labels") or {}).items():
        if len(str(value)) > 63 or not LABEL_VALUE_RE.match(str(value)):
            problems.append(f"metadata.labels: Invalid value: {value!r} (label {key})")
    if kind == "secrets":
        size = 0
        for key, value in (obj.get("data") or {}).items():
            if not KEY_RE.match(key):
                problems.append(f"data[{key}]: Invalid value: {key!r}: a valid config key")
            size += len(base64.b64decode(value))
        if size > MAX_SECRET:
            problems.append(f"data: Too long: must have at most {MAX_SECRET} bytes")
    if kind == "jobs":
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            problems.append("spec.template.spec.restartPolicy: Required value: Never or OnFailure")
        indexed = spec.get("completionMode") == "Indexed"
        if indexed and not spec.get("completions"):
            problems.append("spec.completions: Required value: when completionMode is Indexed")
        if spec.get("backoffLimitPerIndex") is not None and not indexed:
            problems.append("spec.backoffLimitPerIndex: requires completionMode Indexed")
        volumes = {v["name"] for v in pod.get("volumes") or []}
        for c in pod.get("containers") or [{}]:
            if not c.get("name") or not c.get("image"):
                problems.append("spec.template.spec.containers: name and image are required")
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes or not str(m.get("mountPath")).startswith("/"):
                    problems.append(f"volumeMounts[{m.get('name')}]: Not found or not absolute")
    if problems:
        kind_name = KINDS[kind][0]
        raise ApiError(422, "Invalid", f'{kind_name} "{name}" is invalid: {"; ".join(problems)}')


class Handler(BaseHTTPRequestHandler):
    fake: FakeKube  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: pytest shows what failed

    def _reply(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        ctype = "text/plain" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.fake.calls.append((method, url.path, query))
        try:
            user = self.fake.users.get(self.headers.get("Authorization", ""))
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            code, out, headers = self._route(method, url.path, query, body, user)
        except ApiError as exc:
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
            status.update(message=str(exc), reason=exc.reason, code=exc.code)
            self._reply(exc.code, status)
            return
        self._reply(code, out, headers)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, user: str
    ) -> tuple[int, Any, dict[str, str]]:
        cluster: Cluster = self.fake.cluster
        if path == "/version":
            return 200, VERSION, {}
        m = re.match(r"^/fakek8s/evict/([^/]+)/([^/]+)$", path)
        if m and method == "POST":
            with cluster.lock:
                evict(cluster, self._get(cluster, "pods", m.group(1), m.group(2)))
            return 200, {}, {}
        listed = self._cluster_lists(method, path, user)
        if listed is not None:
            return 200, listed, {}
        m = ROUTE.match(path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns, kind, name, sub = m.group("ns"), m.group("kind"), m.group("name"), m.group("sub")
        verb = {"GET": "get" if name else "list", "POST": "create", "DELETE": "delete"}.get(
            method, "patch"
        )
        resource = f"{kind}/log" if sub else kind
        if (user, verb, resource) in self.fake.forbidden:
            raise ApiError(
                403,
                "Forbidden",
                f'{kind} is forbidden: User "{user}" cannot {verb} resource "{resource}" in '
                f'API group "" in the namespace "{ns}"',
            )
        with cluster.lock:
            if ns not in cluster.namespaces:
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
            if method == "POST" and not name:
                created = self._create(cluster, kind, ns, body)
        if method == "POST" and not name:
            if self.fake.on_create is not None:  # outside the lock: it calls the API
                self.fake.on_create(kind, created)
            return 201, created, {}
        with cluster.lock:
            if method == "GET" and not name:
                items = [
                    public(o)
                    for o in cluster.items(kind, ns)
                    if matches(query.get("labelSelector", ""), o["metadata"].get("labels") or {})
                ]
                if "limit" in query:
                    items = items[: int(query["limit"])]
                kind_name, version = KINDS[kind]
                meta = {"resourceVersion": str(cluster.rv)}
                return (
                    200,
                    {
                        "kind": f"{kind_name}List",
                        "apiVersion": version,
                        "metadata": meta,
                        "items": items,
                    },
                    {},
                )
            obj = self._get(cluster, kind, ns, name)
            if method == "GET" and sub == "log":
                return 200, self._log(cluster, obj, query), {}
            if method == "GET":
                return 200, public(obj), {}
            if method == "PATCH":
                return 200, self._patch(obj, body), {}
            if method == "DELETE":
                options = body or {}
                want = (options.get("preconditions") or {}).get("uid")
                if want and want != obj["metadata"]["uid"]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f"Precondition failed: UID in precondition: {want}, UID in object "
                        f"meta: {obj['metadata']['uid']}",
                    )
                policy = query.get("propagationPolicy") or options.get("propagationPolicy")
                headers = {}
                if kind == "jobs" and not policy:
                    policy = "Orphan"  # batch/v1's default, kept for compatibility
                    headers["Warning"] = (
                        '299 - "child pods are preserved by default when jobs are deleted; '
                        "set propagationPolicy=Background to remove them or set "
                        'propagationPolicy=Orphan to suppress this warning"'
                    )
                grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
                cluster.delete(
                    kind, ns, name, policy or "Background", None if grace is None else int(grace)
                )
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}, headers
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _cluster_lists(self, method: str, path: str, user: str) -> dict[str, Any] | None:
        """``GET /api/v1/nodes`` and ``GET .../namespaces/NS/resourcequotas`` (read-only)."""
        m = re.match(
            r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<kind>nodes|resourcequotas)$", path
        )
        if not m or method != "GET" or (m.group("kind") == "nodes") == bool(m.group("ns")):
            return None
        kind, ns = m.group("kind"), m.group("ns")
        if (user, "list", kind) in self.fake.forbidden:
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            raise ApiError(
                403,
                "Forbidden",
                f'{kind} is forbidden: User "{user}" cannot list resource "{kind}" in API '
                f'group ""{where}',
            )
        items = self.fake.nodes if kind == "nodes" else self.fake.quotas.get(ns or "", [])
        name = "NodeList" if kind == "nodes" else "ResourceQuotaList"
        return {"kind": name, "apiVersion": "v1", "metadata": {}, "items": copy.deepcopy(items)}

    @staticmethod
    def _get(cluster: Cluster, kind: str, ns: str, name: str) -> dict[str, Any]:
        obj = cluster.objects.get((kind, ns, name))
        if obj is None:
            singular = {"jobs": "jobs.batch", "pods": "pods", "secrets": "secrets"}[kind]
            raise ApiError(404, "NotFound", f'{singular} "{name}" not found')
        return obj

    def _create(self, cluster: Cluster, kind: str, ns: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match")
        meta["namespace"] = ns
        validate(kind, obj)
        if (kind, ns, meta["name"]) in cluster.objects:
            singular = {"jobs": "jobs.batch", "pods": "pods", "secrets": "secrets"}[kind]
            raise ApiError(409, "AlreadyExists", f'{singular} "{meta["name"]}" already exists')
        if kind == "pods":  # a pod created directly (not by a Job): the kubelet starts it
            obj["status"] = {"phase": "Pending"}
        if kind == "jobs":
            obj.setdefault("status", {})
            obj["spec"].setdefault("parallelism", 1)
            if obj["spec"].get("backoffLimitPerIndex") is not None:
                obj["spec"].setdefault("backoffLimit", 2147483647)
            else:
                obj["spec"].setdefault("backoffLimit", 6)
        return public(cluster.new(kind, obj))

    @staticmethod
    def _patch(obj: dict[str, Any], body: Any) -> Any:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        if "data" in body and obj.get("immutable"):
            raise ApiError(422, "Invalid", "field is immutable when `immutable` is set")
        for key, value in (body.get("metadata") or {}).items():
            if key not in ("ownerReferences", "labels"):
                raise ApiError(422, "Invalid", f"metadata.{key} cannot be patched here (fake)")
            obj["metadata"][key] = value
        return public(obj)

    @staticmethod
    def _log(cluster: Cluster, pod: dict[str, Any], query: dict[str, str]) -> bytes:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        if query.get("container", container) != container:
            raise ApiError(400, "BadRequest", f"container {query['container']} is not valid")
        proc = cluster.procs.get(pod["metadata"]["uid"])
        if proc is None:
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating',
            )
        lines = list(proc.log)
        if "sinceSeconds" in query:
            lines = [ln for ln in lines if ln[0] >= time.time() - int(query["sinceSeconds"])]
        if "sinceTime" in query:
            since = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp()
            lines = [ln for ln in lines if ln[0] >= since]
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) else []
        stamp = query.get("timestamps") == "true"
        out = b"".join(
            (
                datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ ").encode()
                if stamp
                else b""
            )
            + line
            for t, line in lines
        )
        if "limitBytes" in query:
            out = out[: int(query["limitBytes"])]
        return out
