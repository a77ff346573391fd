"""The aggregated API server: ``external.metrics.k8s.io/v1beta1`` over TLS.

Routes (everything but the health checks authenticated and authorised, see
:mod:`recommender.metrics_api.auth`):

- ``/healthz``, ``/livez``, ``/readyz``: probes, open to anyone;
- ``/apis``, ``/apis/external.metrics.k8s.io``, ``/apis/external.metrics.k8s.io/v1beta1``:
  discovery (the aggregator checks the last one to mark the APIService Available);
- ``/apis/external.metrics.k8s.io/v1beta1/namespaces/NS/METRIC?labelSelector=...``: an
  ``ExternalMetricValueList`` of the board's matching values.

Each connection is served by its own thread, with the TLS handshake done there (an accepted
socket never blocks the accept loop); slow, stalled and idle clients are closed at their
deadlines, and at the connection cap the oldest one not being served makes room
(:mod:`recommender.httpserver`, limits :data:`LIMITS`).
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from recommender.httpserver import ConnectionLimits, GuardedHandler, GuardedHTTPServer
from recommender.metrics_api.auth import (
    Authenticator,
    Authorizer,
    Unauthorized,
    path_attributes,
    resource_attributes,
)
from recommender.metrics_api.board import MetricBoard
from recommender.metrics_api.selectors import SelectorError, parse_selector
from recommender.quantity import format_cpu

log = logging.getLogger(__name__)

GROUP = "external.metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP_VERSION}"
HEALTH = ("/healthz", "/livez", "/readyz")
# The aggregator and the HPA controller keep a few connections alive (idle up to 90 s).
LIMITS = ConnectionLimits(max_connections=128, handshake_seconds=5.0, request_seconds=10.0,
                          idle_seconds=90.0, response_seconds=30.0)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _group() -> dict[str, Any]:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version],
            "preferredVersion": version}


class MetricsApiServer(GuardedHTTPServer):
    """Serve ``board`` on ``(host, port)`` with ``cert``/``key``; start() runs a thread.

    ``limits``: deadlines and the connection cap (:mod:`recommender.httpserver`);
    ``max_connections`` and ``handshake_timeout_s`` override theirs.
    """

    def __init__(
        self, board: MetricBoard, authenticator: Authenticator, authorizer: Authorizer,
        cert_file: str, key_file: str, host: str = "0.0.0.0", port: int = 6443,
        max_connections: int | None = None, handshake_timeout_s: float | None = None,
        limits: ConnectionLimits = LIMITS,
    ) -> None:
        self.board, self.authorizer = board, authorizer
        self.authenticator = authenticator
        self.cert_file, self.key_file = cert_file, key_file
        if max_connections is not None:
            limits = replace(limits, max_connections=max_connections)
        if handshake_timeout_s is not None:
            limits = replace(limits, handshake_seconds=handshake_timeout_s)
        super().__init__((host, port), _Handler, limits, tls=self._context())

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        context.verify_mode = ssl.CERT_OPTIONAL  # verified: the front proxy's or a cluster's
        context.load_verify_locations(cadata=self.authenticator.config.trusted_pem())
        context.set_alpn_protocols(["http/1.1"])
        return context

    def start(self) -> MetricsApiServer:
        threading.Thread(target=self.serve_forever, daemon=True, name="metrics-api").start()
        log.info("external metrics API on https://%s:%d%s", *self.server_address[:2], PREFIX)
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-response is routine: one debug line, no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("connection from %s: %s", client_address, exc)
        else:
            log.error("serving %s: %r", client_address, exc)


class _Handler(GuardedHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a response's records leave at once (no delayed-ACK stall)
    server: MetricsApiServer
    server_version = "tidal-metrics-api"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        path = path.rstrip("/") or "/"
        if path in HEALTH:
            self._send(200, b"ok", "text/plain")
            return
        try:
            user = self.server.authenticator.authenticate(
                self.connection.getpeercert(binary_form=True), self.headers)
        except Unauthorized as exc:
            self._json(401, _status(401, "Unauthorized", str(exc)))
            return
        parts = path.split("/")
        if path.startswith(PREFIX + "/namespaces/") and len(parts) == 7:
            namespace, metric = parts[5], parts[6]
            attributes = resource_attributes(namespace, metric, "list", GROUP, VERSION)
        else:
            attributes = path_attributes(path)
        try:
            allowed, reason = self.server.authorizer.allowed(user, attributes)
        except Exception as exc:  # the API server is unreachable: refuse, say why
            log.warning("SubjectAccessReview failed: %s", exc)
            self._json(503, _status(503, "ServiceUnavailable", "authorization unavailable"))
            return
        if not allowed:
            what = dict(attributes)
            self._json(403, _status(403, "Forbidden", (
                f'user "{user.name}" cannot {what.get("verb")} '
                + (f'resource "{what["resource"]}" in API group "{GROUP}" in the namespace '
                   f'"{what["namespace"]}"' if "resource" in what else f'path "{path}"')
                + (f": {reason}" if reason else ""))))
            return
        if len(parts) == 7 and path.startswith(PREFIX + "/namespaces/"):
            self._values(parts[5], parts[6], query)
        elif path == "/apis":
            self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]})
        elif path == f"/apis/{GROUP}":
            self._json(200, _group())
        elif path == PREFIX:
            self._json(200, self._resources())
        else:
            self._json(404, _status(404, "NotFound", f"the server could not find {path}"))

    def _resources(self) -> dict[str, Any]:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
                "resources": [{"name": name, "singularName": "", "namespaced": True,
                               "kind": "ExternalMetricValueList", "verbs": ["get"]}
                              for name in sorted(self.server.board.names())]}

    def _values(self, namespace: str, metric: str, query: str) -> None:
        if metric not in self.server.board.names():
            self._json(404, _status(404, "NotFound", f'no external metric "{metric}": this '
                                    f"server has {', '.join(sorted(self.server.board.names()))}"))
            return
        try:
            selector = parse_selector((parse_qs(query).get("labelSelector") or [""])[0])
        except SelectorError as exc:
            self._json(400, _status(400, "BadRequest", str(exc)))
            return
        items = [
            {"metricName": metric, "metricLabels": value.labels,
             "timestamp": datetime.fromtimestamp(value.timestamp, UTC).strftime(
                 "%Y-%m-%dT%H:%M:%SZ"),
             "value": format_cpu(max(value.value, 0.0))}
            for value in self.server.board.find(metric, namespace, selector)
        ]
        self._json(200, {"kind": "ExternalMetricValueList", "apiVersion": GROUP_VERSION,
                         "metadata": {}, "items": items})

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        """Status line, headers and body in one TLS write."""
        head = (f"{self.protocol_version} {code} {HTTPStatus(code).phrase}\r\n"
                f"Server: {self.server_version}\r\nDate: {self.date_time_string()}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + body)

    def log_message(self, format: str, *args: object) -> None:
        return
