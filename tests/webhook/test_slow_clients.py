"""Slow, stalled and idle connections against the real server: they must not stop admissions.

Before the poller read requests (webhook/intake.py), 2 workers x 4 threads waited on TLS
handshakes, headers and bodies without a deadline: eight slow clients stopped the webhook.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.slow_clients import HOST, closed_by_server, half_client_hello, trickling
from webhook.app import MAX_BODY_BYTES
from webhook.intake import HANDSHAKE_SECONDS, HEAD_SECONDS
from webhook.worker import MAX_IDLE

from . import builders as b
from .test_server import Server

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("slow"), workers=2, threads=4)
    yield srv
    assert srv.stop() == 0, srv.output()


def _context(server: Server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.pki.ca_cert))


def _tls(server: Server) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, server.port), timeout=5)
    return _context(server).wrap_socket(raw, server_hostname=HOST)


def _admit(server: Server) -> float:
    """Seconds a fresh connection takes to get a pod admitted."""
    started = time.monotonic()
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(server.pki.ca_cert)
        reply = session.post(server.url + "/mutate?timeout=10s", json=b.review(b.pod()),
                             timeout=10)  # fmt: skip
    assert reply.status_code == 200
    return time.monotonic() - started


def test_slow_stalled_and_idle_connections_do_not_stop_admissions(server: Server) -> None:
    """50 connections trickling headers a byte at a time, 50 stalled TLS handshakes (nothing
    or half a ClientHello) and 100 idle TCP connections; fresh admissions answer at once."""
    slow = [_tls(server) for _ in range(50)]
    for conn in slow:
        conn.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\n")
    stalled = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(25)]
    stalled += [half_client_hello(_context(server), server.port) for _ in range(25)]
    idle = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(100)]
    try:
        with trickling(slow):
            time.sleep(1.0)  # every thread would be taken by now
            waits = [_admit(server) for _ in range(10)]
    finally:
        for conn in slow + stalled + idle:
            conn.close()
    assert max(waits) < 1.0, waits


def test_connections_are_closed_at_their_deadlines(server: Server) -> None:
    """A stalled handshake is closed after HANDSHAKE_SECONDS; a head trickled a byte every
    half second after HEAD_SECONDS, its bytes not extending it."""
    stalled = socket.create_connection((HOST, server.port), timeout=5)
    slow = _tls(server)
    slow.sendall(b"POST /mutate HTTP/1.1\r\n")
    try:
        with trickling([slow]):
            handshake = closed_by_server(stalled, HANDSHAKE_SECONDS + 2)
            assert handshake is not None and handshake > HANDSHAKE_SECONDS - 1
            head = closed_by_server(slow, HEAD_SECONDS + 2 - handshake)
            assert head is not None, "the slow head was not closed"
            assert HEAD_SECONDS - 1 < handshake + head < HEAD_SECONDS + 2
    finally:
        stalled.close()
        slow.close()


def _response(conn: ssl.SSLSocket) -> tuple[bytes, bytes]:
    """The status line and the rest of one response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head, rest


def test_expect_100_continue_and_pipelined_requests(server: Server) -> None:
    """The poller answers "100 Continue" before reading a body, once; a declared body over
    the cap gets 413 without it; two requests sent together are both answered in order."""
    review = b.review(b.pod())
    body = json.dumps(review).encode()
    head = (b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n")  # fmt: skip
    with _tls(server) as conn:
        conn.sendall(head % len(body))
        assert conn.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        status, answer = _response(conn)
        assert status.startswith(b"HTTP/1.1 200"), status
        assert json.loads(answer)["response"]["uid"] == review["request"]["uid"]
        conn.sendall(head % (MAX_BODY_BYTES + 1))
        status, _ = _response(conn)
        assert status.startswith(b"HTTP/1.1 413") and b"100 Continue" not in status, status
    plain = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
    with _tls(server) as conn:
        conn.sendall(plain % (len(body), body) * 2)
        for _ in range(2):
            status, answer = _response(conn)
            assert status.startswith(b"HTTP/1.1 200"), status
            assert json.loads(answer)["response"]["allowed"] is True


def test_idle_kept_alive_connections_are_capped_oldest_first(tmp_path: Path) -> None:
    """Beyond MAX_IDLE idle kept-alive connections per worker the longest idle is closed, so
    idle clients never fill gunicorn's worker_connections (where a worker stops accepting);
    the newest stay usable, and a new client is served at once."""
    srv = Server(tmp_path, workers=1, threads=2)
    kept: list[ssl.SSLSocket] = []
    try:
        for _ in range(MAX_IDLE + 20):
            conn = _tls(srv)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _response(conn)[0].startswith(b"HTTP/1.1 200")
            kept.append(conn)
        assert closed_by_server(kept[0], within=2) is not None
        kept[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(kept[-1])[0].startswith(b"HTTP/1.1 200")
        assert _admit(srv) < 1.0
    finally:
        for conn in kept:
            conn.close()
        assert srv.stop() == 0, srv.output()
