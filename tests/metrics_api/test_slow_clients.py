"""Slow, stalled and idle clients against the external metrics API over real TLS: they must
not stop it (recommender/httpserver.py). Before, each connection held one of
``max_connections`` slots for as long as it liked (a header byte every few seconds reset the
90 s timeout) and, with the slots taken, new connections were closed at accept."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recommender.httpserver import ConnectionLimits
from recommender.metrics_api.auth import Authenticator, Authorizer, RequestHeaderConfig
from recommender.metrics_api.board import MetricBoard
from recommender.metrics_api.server import MetricsApiServer
from tests.slow_clients import HOST, closed_by_server, half_client_hello, trickling

from .test_server import HPA, Reviews, call

pytestmark = pytest.mark.slow


def _server(pki: dict[str, Path], **limits: Any) -> MetricsApiServer:
    config = RequestHeaderConfig.from_configmap({
        "requestheader-client-ca-file": pki["proxy-ca.crt"].read_text(),
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "client-ca-file": pki["cluster-ca.crt"].read_text(),
    })  # fmt: skip
    return MetricsApiServer(MetricBoard(), Authenticator(config), Authorizer(Reviews({HPA})),
                            str(pki["server.crt"]), str(pki["server.key"]), HOST, 0,
                            **limits).start()  # fmt: skip


@contextlib.contextmanager
def served(pki: dict[str, Path], **limits: Any) -> Iterator[MetricsApiServer]:
    """The API with ``limits`` (``max_connections=``, or ``limits=ConnectionLimits(...)``)."""
    server = _server(pki, **limits)
    try:
        yield server
    finally:
        server.stop()


def _context(pki: dict[str, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki["cluster-ca.crt"]))


def _tls(server: MetricsApiServer, pki: dict[str, Path]) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, server.server_address[1]), timeout=5)
    return _context(pki).wrap_socket(raw, server_hostname=HOST)


def test_slow_stalled_and_idle_clients_do_not_stop_the_api(pki: dict[str, Path]) -> None:
    """100 connections trickling a request head, 50 stalled handshakes and 200 idle TCP
    connections, far over the 64-connection cap: the HPA's requests are answered at once."""
    with served(pki, max_connections=64) as server:
        slow = [_tls(server, pki) for _ in range(100)]
        for conn in slow:
            conn.sendall(b"GET /apis HTTP/1.1\r\nHost: x\r\n")
        port = server.server_address[1]
        stalled = [socket.create_connection((HOST, port), timeout=5) for _ in range(25)]
        stalled += [half_client_hello(_context(pki), port) for _ in range(25)]
        idle = [socket.create_connection((HOST, port), timeout=5) for _ in range(200)]
        try:
            with trickling(slow):
                time.sleep(1.0)
                waits = []
                for _ in range(10):
                    started = time.monotonic()
                    code, _ = call(server, pki, "/apis", "proxy", HPA)
                    waits.append(time.monotonic() - started)
                    assert code == 200
                assert server.open_connections <= 64
        finally:
            for conn in slow + stalled + idle:
                conn.close()
    assert max(waits) < 1.0, waits


def test_connections_are_closed_at_their_deadlines(pki: dict[str, Path]) -> None:
    """A stalled handshake is closed after handshake_seconds; a head trickled a byte every
    half second after request_seconds (its bytes do not extend it); a kept-alive connection
    after idle_seconds without a request."""
    limits = ConnectionLimits(handshake_seconds=1.0, request_seconds=2.0, idle_seconds=2.0)
    with served(pki, limits=limits) as server:
        stalled = socket.create_connection((HOST, server.server_address[1]), timeout=5)
        slow = _tls(server, pki)
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        kept = _tls(server, pki)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        try:
            with trickling([slow]):
                handshake = closed_by_server(stalled, 4)
                assert handshake is not None and 0.5 < handshake < 2.0, handshake
                head = closed_by_server(slow, 4)
                assert head is not None and handshake + head < 3.5, (handshake, head)
                idle = closed_by_server(kept, 4)
                assert idle is not None, "the idle kept-alive connection was not closed"
        finally:
            for conn in (stalled, slow, kept):
                conn.close()
