"""A tiny in-memory stand-in for the two kinds of API objects ``tidal-certs`` touches.

``FakeCluster`` implements the ``Cluster`` interface directly; ``FakeApiServer`` serves the
same store over HTTP on 127.0.0.1 so the real ``kubernetes`` client can be pointed at it.
JSON patches are applied with ``jsonpatch``, so ``test`` operations behave as on a real server.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonpatch

MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"


def webhook_configuration(kind: str, name: str, *webhooks: str) -> dict:
    """A webhook configuration as the apiserver would return it, without caBundle."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, "resourceVersion": "1"},
        "webhooks": [
            {
                "name": hook,
                "clientConfig": {
                    "service": {
                        "name": "tidal-webhook",
                        "namespace": "tidal-system",
                        "path": "/validate",
                        "port": 443,
                    }
                },
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
            }
            for hook in webhooks
        ],
    }


class FakeCluster:
    """In-memory Secrets and webhook configurations; records every write."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict] = {}
        self.configurations: dict[tuple[str, str], dict] = {}
        self.writes: list[tuple[str, str]] = []

    def add_configuration(self, obj: dict) -> None:
        self.configurations[(obj["kind"], obj["metadata"]["name"])] = obj

    def read_secret(self, namespace: str, name: str) -> dict | None:
        return copy.deepcopy(self.secrets.get((namespace, name)))

    def create_secret(self, namespace: str, body: dict) -> None:
        key = (namespace, body["metadata"]["name"])
        assert key not in self.secrets, "AlreadyExists"
        self.secrets[key] = copy.deepcopy(body)
        self.writes.append(("create", f"secret/{key[1]}"))

    def patch_secret(self, namespace: str, name: str, patch: list[dict[str, Any]]) -> None:
        key = (namespace, name)
        self.secrets[key] = jsonpatch.apply_patch(self.secrets[key], patch)
        self.writes.append(("patch", f"secret/{name}"))

    def delete_secret(self, namespace: str, name: str) -> None:
        del self.secrets[(namespace, name)]
        self.writes.append(("delete", f"secret/{name}"))

    def read_webhook_configuration(self, kind: str, name: str) -> dict | None:
        return copy.deepcopy(self.configurations.get((kind, name)))

    def patch_webhook_configuration(self, kind: str, name: str, patch: list[dict]) -> None:
        key = (kind, name)
        self.configurations[key] = jsonpatch.apply_patch(self.configurations[key], patch)
        self.writes.append(("patch", f"{kind}/{name}"))


_SECRET = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets(?:/([^/?]+))?")
_CONFIG = re.compile(
    r"^/apis/admissionregistration\.k8s\.io/v1/(mutating|validating)webhookconfigurations/([^/?]+)"
)


class FakeApiServer:
    """Serves a ``FakeCluster`` over HTTP with the apiserver's paths, verbs and status codes."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.forbidden_secrets: set[str] = set()  # names answered with 403, like RBAC would
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "admin", "user": {"token": "test"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "admin"}}],
            "current-context": "fake",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def _dispatch(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                content_type = self.headers.get("Content-Type", "")
                server.requests.append((method, self.path, content_type))
                try:
                    status, obj = server._route(method, self.path, body, content_type)
                except jsonpatch.JsonPatchException as error:
                    status, obj = 422, {"kind": "Status", "message": str(error)}
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _route(self, method: str, path: str, body: Any, content_type: str) -> tuple[int, dict]:
        c = self.cluster
        not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        if match := _SECRET.match(path):
            namespace, name = match.groups()
            if (name or (body or {}).get("metadata", {}).get("name")) in self.forbidden_secrets:
                message = f'secrets "{name}" is forbidden: User "sa" cannot {method.lower()}'
                status = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": message}
                return 403, status
            if method == "POST":
                c.create_secret(namespace, body)
                return 201, body
            current = c.read_secret(namespace, name)
            if current is None:
                return 404, not_found
            if method == "GET":
                return 200, current
            if method == "PATCH":
                assert content_type == "application/json-patch+json", content_type
                c.patch_secret(namespace, name, body)
                return 200, c.read_secret(namespace, name) or {}
            c.delete_secret(namespace, name)
            return 200, {"kind": "Status", "status": "Success"}
        if match := _CONFIG.match(path):
            kind = MUTATING if match.group(1) == "mutating" else VALIDATING
            name = match.group(2)
            current = c.read_webhook_configuration(kind, name)
            if current is None:
                return 404, not_found
            if method == "PATCH":
                assert content_type == "application/json-patch+json", content_type
                c.patch_webhook_configuration(kind, name, body)
                return 200, c.read_webhook_configuration(kind, name) or {}
            return 200, current
        return 404, not_found
