"""Connections on their way to a request: TLS handshake and request read without a thread.

The worker's pool has few threads (2 workers x 4). A thread that waited for a client's TLS
handshake, headers or body could be held by any slow or idle connection, and eight of them
stopped the webhook. So the worker's poller (its main thread) drives each new or kept-alive
connection non-blocking: the handshake, then the request's bytes into its :class:`RequestFrame`
until a whole request is buffered; only then does a thread serve it, without waiting on the
network. Each phase has a deadline, and :class:`Intake` bounds the connections in these phases
per worker and per client, and the bytes they buffer, dropping the oldest first: a new
connection (the apiserver's) is never the one refused, and a flood only displaces itself.
"""

from __future__ import annotations

import enum
import ssl
from typing import Any, Generic, Protocol, TypeVar

from gunicorn import http, sock
from gunicorn.workers.gthread import TConn

from webhook.framing import CONTINUE, Framing, RequestFrame

# Seconds a new connection has for its TLS handshake (the apiserver's takes milliseconds).
HANDSHAKE_SECONDS = 5.0
# Seconds for a request's head, from its first byte on a kept-alive connection or from the
# handshake on a new one; then for its body once the head is in.
HEAD_SECONDS = 10.0
BODY_SECONDS = 10.0
# Connections in the handshake or reading a request, per worker; and per client address among
# those not yet past their first request (the apiserver's kept-alive ones are), three quarters
# of them: one address never holds them all. Far above what a well-behaved client needs, so
# that a flood from one address is closed at its deadlines rather than churned through
# (every connection dropped is one it reopens, each a handshake's work).
MAX_PENDING = 512
MAX_PENDING_PER_CLIENT = 384
# Bytes those connections may buffer together, per worker (a body is at most 5 MB).
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
# Seconds a thread waits on the socket once it holds a whole request (writing the response):
# only a client that stops reading can make it wait at all.
THREAD_IO_SECONDS = 5.0
RECV_BYTES = 256 * 1024


class Progress(enum.Enum):
    """Where a non-blocking step left the connection."""

    WANT_READ = "want read"
    WANT_WRITE = "want write"
    READY = "ready"  # a request is buffered (or handed over as it stands)
    FAILED = "failed"  # closed by the peer, or a TLS or socket error: close it


class IntakeConn(TConn):  # type: ignore[misc]
    """gthread's connection, its request read by the poller and then served from memory."""

    def __init__(self, cfg: Any, raw: Any, client: Any, server: Any, frame: RequestFrame) -> None:
        super().__init__(cfg, raw, client, server)  # non-blocking
        self.sock: Any = self.sock
        self.parser: Any = self.parser
        self.frame = frame
        self.handshaken = not cfg.is_ssl
        self.deadline = 0.0
        self.served = 0  # requests handed to a thread
        self.close_after = False  # the current request is answered and the connection closed
        self.counted = 0  # bytes of the frame counted in the Intake's total
        self.closed = False

    @property
    def client_key(self) -> str:
        return str(self.client[0] if isinstance(self.client, tuple) else self.client)

    def start_tls(self) -> None:
        """Wrap the socket for TLS; the handshake is left to :meth:`step`."""
        if self.cfg.is_ssl:
            self.sock = sock.ssl_context(self.cfg).wrap_socket(
                self.sock,
                server_side=True,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                do_handshake_on_connect=False,
            )

    def step(self, now: float) -> Progress:
        """Advance the handshake and the request read as far as the socket allows."""
        if not self.handshaken:
            try:
                self.sock.do_handshake()
            except ssl.SSLWantReadError:
                return Progress.WANT_READ
            except ssl.SSLWantWriteError:
                return Progress.WANT_WRITE
            except OSError:  # ssl.SSLError included: refused protocol, bad hello, reset
                return Progress.FAILED
            self.handshaken = True
            self.deadline = now + HEAD_SECONDS
        return self.read(now)

    def read(self, now: float) -> Progress:
        """Read what the socket holds into the frame (non-blocking)."""
        while self.frame.status is Framing.INCOMPLETE:
            try:
                data = self.sock.recv(RECV_BYTES)
            except (ssl.SSLWantReadError, BlockingIOError):
                return Progress.WANT_READ
            except ssl.SSLWantWriteError:
                return Progress.WANT_WRITE
            except OSError:
                return Progress.FAILED
            if not data:
                return Progress.FAILED
            had_head = self.frame.head_complete
            self.frame.feed(data)
            if self.frame.head_complete and not had_head:
                self.deadline = now + BODY_SECONDS
            if self.frame.expects_continue and self.frame.status is Framing.INCOMPLETE:
                self.frame.expects_continue = False
                try:
                    if self.sock.send(CONTINUE) != len(CONTINUE):
                        return Progress.FAILED
                except OSError:  # a fresh socket's buffer takes 25 bytes, or it is gone
                    return Progress.FAILED
        return Progress.READY

    def hand_over(self) -> None:
        """Give the buffered request to gunicorn's parser: a thread serves it next."""
        if self.parser is None:
            self.parser = http.get_parser(self.cfg, self.sock, self.client)
        self.close_after = self.frame.status is Framing.HAND_OVER
        self.parser.unreader.unread(self.frame.take())
        self.initialized = True
        self.served += 1

    def init(self) -> None:
        """In the serving thread: the request is in memory; bound any wait on the socket."""
        self.initialized = True
        if self.parser is None:
            self.parser = http.get_parser(self.cfg, self.sock, self.client)
        self.sock.settimeout(THREAD_IO_SECONDS)

    def first_request(self) -> bool:
        return self.served == 0


class Pending(Protocol):
    """What :class:`Intake` reads of a connection."""

    frame: RequestFrame
    counted: int
    deadline: float

    @property
    def client_key(self) -> str: ...

    def first_request(self) -> bool: ...


P = TypeVar("P", bound=Pending)


class Intake(Generic[P]):
    """The worker's connections in the handshake or reading a request, oldest first."""

    def __init__(
        self,
        max_pending: int = MAX_PENDING,
        max_per_client: int = MAX_PENDING_PER_CLIENT,
        max_bytes: int = MAX_BUFFERED_BYTES,
    ) -> None:
        self.max_pending = max_pending
        self.max_per_client = max_per_client
        self.max_bytes = max_bytes
        self.buffered = 0
        self._conns: dict[P, None] = {}  # insertion order: oldest first
        self._new_by_client: dict[str, dict[P, None]] = {}

    def __len__(self) -> int:
        return len(self._conns)

    def __contains__(self, conn: object) -> bool:
        return conn in self._conns

    def admit(self, conn: P, deadline: float) -> list[P]:
        """Track ``conn`` until ``deadline``; the connections to drop to make room."""
        dropped: list[P] = []
        if conn.first_request():
            mine = self._new_by_client.setdefault(conn.client_key, {})
            while len(mine) >= self.max_per_client:
                dropped.append(self._oldest(mine))
            mine[conn] = None
        while len(self._conns) >= self.max_pending:
            dropped.append(self._oldest(self._conns))
        conn.deadline = deadline
        self._conns[conn] = None
        return dropped + self.update(conn)

    def update(self, conn: P) -> list[P]:
        """Count ``conn``'s buffered bytes; the oldest others to drop while over the budget."""
        size = len(conn.frame.data)
        self.buffered += size - conn.counted
        conn.counted = size
        dropped: list[P] = []
        for other in list(self._conns):
            if self.buffered <= self.max_bytes:
                break
            if other is not conn and other.counted:
                self.discard(other)
                dropped.append(other)
        return dropped

    def discard(self, conn: P) -> None:
        """Stop tracking ``conn`` (served, dropped or closed)."""
        if self._conns.pop(conn, 0) is None:
            self.buffered -= conn.counted
            conn.counted = 0
            mine = self._new_by_client.get(conn.client_key)
            if mine is not None:
                mine.pop(conn, None)
                if not mine:
                    del self._new_by_client[conn.client_key]

    def expired(self, now: float) -> list[P]:
        """Connections past their deadline, no longer tracked."""
        late = [conn for conn in self._conns if conn.deadline <= now]
        for conn in late:
            self.discard(conn)
        return late

    def cap_deadlines(self, deadline: float) -> None:
        """Deadlines no later than ``deadline`` (the worker is stopping)."""
        for conn in self._conns:
            conn.deadline = min(conn.deadline, deadline)

    def _oldest(self, conns: dict[P, None]) -> P:
        oldest = next(iter(conns))
        self.discard(oldest)
        return oldest
