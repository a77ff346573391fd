"""A threading HTTP server that slow, stalled and idle clients cannot stop.

``ThreadingHTTPServer`` gives each connection a thread that waits as long as the client
likes: for its TLS handshake, its request head, its next request on a kept-alive connection.
Enough such clients hold every thread (or, capped, every slot) and a Prometheus scrape or the
aggregator's request is never answered. :class:`GuardedHTTPServer` gives each connection a
deadline for the phase it is in (handshake, first request head, next request while kept
alive, serving), and a reaper thread shuts down the socket of a connection past it, which
ends that thread's wait. Connections are capped: at the cap, the oldest connection that is
not being served is closed to make room, so a new client (the apiserver's, Prometheus') is
never the one refused, and a flood only displaces itself. Both the recommender's
``/metrics`` (and the updater's) and the external metrics API use it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REAP_SECONDS = 0.25  # how often deadlines are checked


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection deadlines (seconds) and the cap on open connections."""

    max_connections: int = 64
    handshake_seconds: float = 5.0  # TLS handshake, from accept
    request_seconds: float = 10.0  # a new connection's first request head, after the handshake
    idle_seconds: float = 60.0  # a kept-alive connection's next request head, after a response
    response_seconds: float = 30.0  # serving a request and writing its response


class _Tracked:
    """One open connection: its socket (to shut down), deadline, and whether it is served."""

    __slots__ = ("deadline", "serving", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.serving = False


def _shut(sock: socket.socket) -> None:
    """End any blocked read or write on ``sock`` from another thread (the TLS layer is not
    touched: its own thread sees the end of the stream)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class GuardedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with deadlines, a connection cap, and optional TLS (the
    handshake done in the connection's thread, never in the accept loop)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limits: ConnectionLimits | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.limits = limits or ConnectionLimits()
        self.tls = tls
        self._lock = threading.Lock()
        self._open: dict[int, _Tracked] = {}  # insertion order: oldest first
        self._next_key = 0
        self._local = threading.local()
        self._stopped = threading.Event()
        super().__init__(address, handler)
        threading.Thread(target=self._reap, daemon=True, name="http-reaper").start()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # -- the accept loop ----------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection (making room at the cap) and serve it in a thread."""
        first_phase = self.limits.handshake_seconds if self.tls else self.limits.request_seconds
        tracked = _Tracked(request, time.monotonic() + first_phase)
        with self._lock:
            if len(self._open) >= self.limits.max_connections:
                idle = next((k for k, t in self._open.items() if not t.serving), None)
                if idle is None:  # every connection is being served: refuse this one
                    self.shutdown_request(request)
                    return
                _shut(self._open.pop(idle).sock)
            key = self._next_key
            self._next_key += 1
            self._open[key] = tracked
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address, key, tracked),
            daemon=True,
        )  # fmt: skip
        thread.start()

    # -- a connection's thread ----------------------------------------------------------------

    def _serve_connection(self, request: Any, client_address: Any, key: int,
                          tracked: _Tracked) -> None:  # fmt: skip
        sock = request
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(request, server_side=True,
                                            do_handshake_on_connect=False)  # fmt: skip
                with self._lock:
                    tracked.sock = sock
                sock.settimeout(self.limits.handshake_seconds)
                try:
                    sock.do_handshake()
                except (OSError, ValueError):  # a bad hello, a reset, a deadline, displaced
                    return
            tracked.deadline = time.monotonic() + self.limits.request_seconds
            self._local.tracked = tracked
            self.finish_request(sock, client_address)
        except Exception:
            self.handle_error(sock, client_address)
        finally:
            with self._lock:
                self._open.pop(key, None)
            self.shutdown_request(sock)

    def waiting(self, kept_alive: bool) -> None:
        """The handler waits for a request head (hook of :class:`GuardedHandler`)."""
        tracked: _Tracked = self._local.tracked
        tracked.serving = False
        if kept_alive:
            tracked.deadline = time.monotonic() + self.limits.idle_seconds

    def serving(self) -> None:
        """The handler has a whole request head: it may not be displaced, only time out."""
        tracked: _Tracked = self._local.tracked
        tracked.serving = True
        tracked.deadline = time.monotonic() + self.limits.response_seconds

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_WR)
        request.close()

    # -- deadlines ----------------------------------------------------------------------------

    def _reap(self) -> None:
        while not self._stopped.wait(REAP_SECONDS):
            now = time.monotonic()
            with self._lock:
                late = [t for t in self._open.values() if t.deadline <= now]
            for tracked in late:
                _shut(tracked.sock)

    def shutdown(self) -> None:
        self._stopped.set()
        super().shutdown()

    def server_close(self) -> None:
        self._stopped.set()
        super().server_close()


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler whose phases set its connection's deadline."""

    server: GuardedHTTPServer

    def setup(self) -> None:
        super().setup()
        limits = self.server.limits
        # Each blocking socket call is bounded too; the reaper bounds each phase as a whole.
        self.connection.settimeout(
            max(limits.request_seconds, limits.idle_seconds, limits.response_seconds)
        )
        self._requests = 0

    def handle_one_request(self) -> None:
        self.server.waiting(kept_alive=self._requests > 0)
        self._requests += 1
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.server.serving()
        return parsed
