"""Slow and idle clients against the recommender's (and the updater's) ``/metrics`` and
``/healthz`` (recommender/httpserver.py). Before, every connection got a thread that waited
without a deadline: hundreds of idle or trickling connections held hundreds of threads, for
ever."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from recommender.cluster.server import LIMITS, serve
from recommender.httpserver import ConnectionLimits, GuardedHTTPServer
from tests.slow_clients import HOST, closed_by_server, trickling

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def served(limits: ConnectionLimits = LIMITS) -> Iterator[GuardedHTTPServer]:
    registry = CollectorRegistry()
    Counter("tidal_test_total", "a metric", registry=registry).inc()
    server = serve(registry, lambda: True, 0, HOST, limits)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _get(server: GuardedHTTPServer, path: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    url = f"http://{HOST}:{server.server_address[1]}{path}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as reply:
        return reply.status, reply.read(), time.monotonic() - started


def test_slow_and_idle_clients_neither_stop_it_nor_hold_threads() -> None:
    """100 connections trickling a request head and 200 idle ones: scrapes and probes are
    answered at once, and the server holds at most its connection cap in threads."""
    before = threading.active_count()
    with served() as server:
        port = server.server_address[1]
        slow = [socket.create_connection((HOST, port), timeout=5) for _ in range(100)]
        for conn in slow:
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        idle = [socket.create_connection((HOST, port), timeout=5) for _ in range(200)]
        try:
            with trickling(slow):
                time.sleep(1.0)
                threads = threading.active_count() - before
                waits = []
                for path in ("/metrics", "/healthz") * 5:
                    status, body, seconds = _get(server, path)
                    assert status == 200 and body
                    waits.append(seconds)
        finally:
            for conn in slow + idle:
                conn.close()
    assert max(waits) < 1.0, waits
    # The cap, the serve_forever, reaper and trickler threads, a few displaced ones exiting.
    assert threads <= LIMITS.max_connections + 10, threads


def test_a_slow_head_and_an_idle_connection_are_closed_at_the_deadline() -> None:
    with served(ConnectionLimits(request_seconds=1.5)) as server:
        port = server.server_address[1]
        idle = socket.create_connection((HOST, port), timeout=5)
        slow = socket.create_connection((HOST, port), timeout=5)
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")
        try:
            with trickling([slow], every=0.3):
                closed_idle = closed_by_server(idle, 4)
                closed_slow = closed_by_server(slow, 4)
        finally:
            idle.close()
            slow.close()
    assert closed_idle is not None and 1.0 < closed_idle < 2.5, closed_idle
    assert closed_slow is not None, "the trickled head was not closed"
