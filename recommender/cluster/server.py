"""``/metrics`` and ``/healthz`` over HTTP for the in-cluster recommender (and the updater).

Slow, stalled and idle clients are closed at their deadlines and at most
``LIMITS.max_connections`` are open at once, the oldest not being served making room
(:mod:`recommender.httpserver`): a scraper or the kubelet's probe is always answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from recommender.httpserver import ConnectionLimits, GuardedHandler, GuardedHTTPServer

# Prometheus and the kubelet's probes use a few short requests (HTTP/1.0: one per connection).
LIMITS = ConnectionLimits(max_connections=32, request_seconds=10.0, response_seconds=30.0)


def serve(
    registry: CollectorRegistry,
    healthy: Callable[[], bool],
    port: int,
    host: str = "0.0.0.0",
    limits: ConnectionLimits = LIMITS,
) -> GuardedHTTPServer:
    """Start serving in a daemon thread; returns the server (``shutdown()`` to stop)."""

    class Handler(GuardedHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path.startswith("/healthz"):
                ok = healthy()
                self._send(200 if ok else 503, b"ok\n" if ok else b"loop stalled\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = GuardedHTTPServer((host, port), Handler, limits)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server
