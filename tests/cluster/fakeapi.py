"""A small in-memory Kubernetes API server over HTTP on 127.0.0.1 (lists with paging, get,
create, replace with resourceVersion conflicts, merge and JSON patches, the status
subresource, delete, and the ``pods/resize`` and ``pods/eviction`` subresources), shaped like
the real apiserver's responses. Other APIs are served
once objects are added for them (e.g. ``metrics.k8s.io`` PodMetrics).

Used by the cluster tests when no real control plane is available and by
``benchmarks/recommender_loop.py`` (10k VPAs). Unknown APIs (``metrics.k8s.io`` without
PodMetrics added) answer 404 like an apiserver without metrics-server.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonpatch

_PATH = re.compile(
    r"^(?P<base>/api/v1|/apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status|resize|eviction))?$"
)
KINDS = {
    "pods": "Pod", "deployments": "Deployment", "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "jobs": "Job",
    "cronjobs": "CronJob", "replicationcontrollers": "ReplicationController",
    "leases": "Lease", "verticalpodautoscalers": "VerticalPodAutoscaler",
    "limitranges": "LimitRange", "events": "Event",
    "verticalpodautoscalercheckpoints": "VerticalPodAutoscalerCheckpoint",
}
SERVED = {
    ("/api/v1", "pods"), ("/api/v1", "replicationcontrollers"),
    ("/api/v1", "limitranges"), ("/api/v1", "events"),
    ("/apis/apps/v1", "deployments"), ("/apis/apps/v1", "replicasets"),
    ("/apis/apps/v1", "statefulsets"), ("/apis/apps/v1", "daemonsets"),
    ("/apis/batch/v1", "jobs"), ("/apis/batch/v1", "cronjobs"),
    ("/apis/coordination.k8s.io/v1", "leases"),
    ("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers"),
    ("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalercheckpoints"),
}


class Store:
    """Objects per (base, plural), keyed by (namespace, name), in insertion order."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.version = 0
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    def put(self, base: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        meta.setdefault("uid", f"uid-{self.version}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        self.objects.setdefault((base, plural), {})[(meta["namespace"], meta["name"])] = obj
        return obj

    def add(self, base: str, plural: str, objects: Iterable[dict[str, Any]]) -> None:
        for obj in objects:
            self.put(base, plural, obj)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Store

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, code: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _route(self) -> tuple[re.Match[str] | None, dict[str, list[str]]]:
        url = urllib.parse.urlsplit(self.path)
        match = _PATH.match(url.path)
        key = (match["base"], match["plural"]) if match else None
        if key is not None and key not in SERVED and key not in self.store.objects:
            match = None
        return match, urllib.parse.parse_qs(url.query)

    def do_GET(self) -> None:
        store = self.store
        store.requests["GET"] += 1
        match, query = self._route()
        if match is None:
            return self._reply(404, _status(404, "NotFound", "the server could not find it"))
        key = (match["base"], match["plural"])
        with store.lock:
            bucket = store.objects.get(key, {})
            if match["name"]:
                obj = bucket.get((match["ns"], match["name"]))
                if obj is None:
                    return self._reply(404, _status(404, "NotFound", f"{match['name']} not found"))
                return self._reply(200, obj)
            items = [o for (ns, _), o in bucket.items() if not match["ns"] or ns == match["ns"]]
            start = int((query.get("continue") or ["0"])[0] or 0)
            limit = int((query.get("limit") or ["0"])[0] or 0) or len(items)
            page = items[start:start + limit]
            meta: dict[str, Any] = {"resourceVersion": str(store.version)}
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            body = json.dumps({
                "kind": KINDS.get(match["plural"], "Object") + "List",
                "apiVersion": match["base"].removeprefix("/apis/").removeprefix("/api/"),
                "metadata": meta, "items": page,
            }).encode()
        self._reply(200, body)

    def do_POST(self) -> None:
        store = self.store
        store.requests["POST"] += 1
        match, _ = self._route()
        obj = self._body()
        if match is not None and match["sub"] == "eviction":  # the Eviction API: no PDBs here
            with store.lock:
                if self._current(match) is None:
                    return self._reply(404, _status(404, "NotFound", "not found"))
                del store.objects[(match["base"], match["plural"])][(match["ns"], match["name"])]
            return self._reply(201, _status(201, "", "evicted") | {"status": "Success"})
        if match is None or match["name"]:
            return self._reply(404, _status(404, "NotFound", "no such collection"))
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = match["ns"] or "default"
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{store.version + 1:05x}"
        with store.lock:
            bucket = store.objects.get((match["base"], match["plural"]), {})
            if (match["ns"], obj["metadata"]["name"]) in bucket:
                return self._reply(409, _status(409, "AlreadyExists", "already exists"))
            created = store.put(match["base"], match["plural"], obj)
            self._reply(201, created)

    def do_PUT(self) -> None:
        store = self.store
        store.requests["PUT"] += 1
        match, _ = self._route()
        obj = self._body()
        with store.lock:
            current = self._current(match)
            if current is None:
                return self._reply(404, _status(404, "NotFound", "not found"))
            wanted = (obj.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                return self._reply(409, _status(409, "Conflict", "the object has been modified"))
            self._reply(200, store.put(match["base"], match["plural"], obj))

    def do_PATCH(self) -> None:
        store = self.store
        store.requests["PATCH"] += 1
        match, _ = self._route()
        patch = self._body()
        kind = self.headers.get("Content-Type", "")
        with store.lock:
            current = self._current(match)
            if current is None:
                return self._reply(404, _status(404, "NotFound", "not found"))
            obj = copy.deepcopy(current)
            if "json-patch" in kind:
                obj = jsonpatch.apply_patch(obj, patch)
            elif match["sub"] == "resize":  # strategic merge: containers by name, resources only
                by_name = {c["name"]: c for c in obj["spec"]["containers"]}
                for change in (patch.get("spec") or {}).get("containers") or []:
                    target = by_name[change["name"]].setdefault("resources", {})
                    for field, values in (change.get("resources") or {}).items():
                        target.setdefault(field, {}).update(values)
            else:
                if match["sub"] == "status":
                    patch = {"status": patch.get("status")}
                obj = _merge(obj, patch)
            self._reply(200, store.put(match["base"], match["plural"], obj))

    def do_DELETE(self) -> None:
        store = self.store
        store.requests["DELETE"] += 1
        match, _ = self._route()
        with store.lock:
            if self._current(match) is None:
                return self._reply(404, _status(404, "NotFound", "not found"))
            del store.objects[(match["base"], match["plural"])][(match["ns"], match["name"])]
        self._reply(200, _status(200, "", "deleted") | {"status": "Success"})

    def _current(self, match: re.Match[str] | None) -> dict[str, Any] | None:
        if match is None or not match["name"]:
            return None
        bucket = self.store.objects.get((match["base"], match["plural"]), {})
        return bucket.get((match["ns"], match["name"]))


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class FakeApiServer:
    """Serve a :class:`Store` on a free 127.0.0.1 port in a daemon thread."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        handler = type("Handler", (_Handler,), {"store": self.store})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def client_for(url: str) -> Any:
    """An official ``ApiClient`` pointed at ``url`` (plain HTTP, no auth)."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.connection_pool_maxsize = 16
    return client.ApiClient(configuration)
