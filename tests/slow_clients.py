"""Slow, stalled and idle clients for the HTTP servers' tests (webhook, recommender endpoints,
external metrics API): a connection that trickles bytes, one that stalls its TLS handshake
half way, and how long the server takes to close one."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence

HOST = "127.0.0.1"


def half_client_hello(context: ssl.SSLContext, port: int) -> socket.socket:
    """A TCP connection that sent the first half of a real ClientHello, then nothing."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=HOST)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    raw = socket.create_connection((HOST, port), timeout=5)
    raw.sendall(hello[: len(hello) // 2])
    return raw


def closed_by_server(conn: socket.socket, within: float) -> float | None:
    """Seconds until the server closes ``conn`` (None: still open after ``within``)."""
    conn.settimeout(0.1)
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if conn.recv(1024) == b"":
                return time.monotonic() - started
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError):
            return time.monotonic() - started
    return None


@contextlib.contextmanager
def trickling(conns: Sequence[socket.socket], every: float = 0.5) -> Iterator[None]:
    """While inside, each connection sends one more byte every ``every`` seconds."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.sendall(b"X")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
