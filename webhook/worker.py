"""gunicorn's ``gthread`` worker, its threads given only whole requests.

Two changes to ``gthread``:

* Its pool threads did the TLS handshake and read each request from the socket, waiting as
  long as the client liked: eight slow clients held every thread. Here the main thread (the
  poller) does both without blocking (:mod:`webhook.intake`), with deadlines and limits, and a
  thread gets a connection only once a whole request is in memory.
* ``gthread`` hands every kept-alive connection back to its poller after each response, and
  the next request on it travels poller -> pool queue -> thread: three thread wake-ups per
  admission. The kube-apiserver sends admissions on a few kept-alive connections, so when the
  next request follows within :data:`LINGER_SECONDS` this worker serves it on the same thread
  straight away. It stops lingering as soon as another connection waits for a thread, or when
  the linger ends with only part of a request: the rest is read by the poller.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import select
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from webhook.app import MAX_BODY_BYTES
from webhook.framing import Framing, RequestFrame
from webhook.intake import (
    BODY_SECONDS,
    HANDSHAKE_SECONDS,
    HEAD_SECONDS,
    Intake,
    IntakeConn,
    Progress,
)

# How long a thread waits for the next request on its connection before handing it back to
# the poller. The apiserver's next admission on a busy connection follows within milliseconds.
LINGER_SECONDS = 0.025
# How often a lingering thread checks whether other connections wait for a thread.
POLL_SECONDS = 0.005
# Idle kept-alive connections per worker; beyond, the longest idle is closed (a client may
# always reopen one). Keeps the worker below gunicorn's worker_connections, where it would
# stop accepting.
MAX_IDLE = 256
# Most connections a stopping worker takes from its queue before it closes its socket.
DRAIN_LIMIT = 1024
# How often the poller looks for connections past their deadline.
EXPIRY_CHECK_SECONDS = 0.25


class Linger(enum.Enum):
    SERVE = "serve"  # a whole next request is buffered
    PARK = "park"  # back to the poller (idle, or part of a request)
    CLOSE = "close"  # the client closed, or the socket failed


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` whose poller reads requests and whose threads only serve them."""

    def init_process(self) -> None:
        self.intake: Intake[IntakeConn] = Intake()
        self._next_expiry_check = 0.0
        super().init_process()

    # -- the poller (main thread) ---------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        """As gthread; when stopping, also take what the kernel queued and close the
        listening sockets at once. Each worker has its own socket (``reuse_port``): left open
        while the worker finishes its requests, it would go on receiving new connections that
        nobody accepts, all reset when it finally closes."""
        if enabled or self.alive:
            super().set_accept_enabled(enabled)
            return
        for listener in self.sockets:
            for _ in range(DRAIN_LIMIT):
                before = self.nr_conns
                self.accept(listener)
                if self.nr_conns == before:  # nothing (more) queued
                    break
        super().set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()

    def accept(self, listener: Any) -> None:
        """Accept a connection and start its handshake (never blocks)."""
        try:
            raw, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        conn = IntakeConn(self.cfg, raw, client, listener.getsockname(), self._frame())
        try:
            conn.start_tls()
        except OSError:  # ssl.SSLError included: certificate files unreadable
            self.log.exception("cannot start TLS on a new connection")
            self._close(conn)
            return
        self._admit(conn, time.monotonic() + HANDSHAKE_SECONDS)

    def on_client_socket_readable(self, conn: IntakeConn, client: Any) -> None:
        """A kept-alive connection sends its next request: read it here."""
        if conn.closed:  # closed earlier in this round of events
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._admit(conn, time.monotonic() + HEAD_SECONDS)

    def finish_request(self, conn: IntakeConn, fs: Any) -> None:
        """A thread is done with ``conn``: read its next request, park it, or close it."""
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result is not True:
            self._close(conn, graceful=True)
            return
        try:
            conn.sock.setblocking(False)
            conn.frame.feed(conn.parser.unreader.take_buffered())  # pipelined bytes
            if conn.frame.data or _pending(conn.sock):
                seconds = BODY_SECONDS if conn.frame.head_complete else HEAD_SECONDS
                self._admit(conn, time.monotonic() + seconds)
                return
            self._park(conn)
        except Exception:
            self.log.exception("cannot keep a connection alive")
            self._close(conn)

    def murder_pending(self) -> None:
        """Also close connections past their handshake or request deadline."""
        super().murder_pending()
        now = time.monotonic()
        if now < self._next_expiry_check:
            return
        self._next_expiry_check = now + EXPIRY_CHECK_SECONDS
        if not self.alive:  # stopping: a request being read has a short while to arrive
            self.intake.cap_deadlines(now + STOP_KEEPALIVE_LINGER)
        for conn in self.intake.expired(now):
            self.log.debug("closing %s: deadline passed before a whole request", conn.client)
            self._close(conn)

    def _frame(self) -> RequestFrame:
        cfg = self.cfg
        # Beyond this a head without its blank line breaks one of gunicorn's limits (414/431).
        fields = cfg.limit_request_fields * (cfg.limit_request_field_size + 2)
        max_head = cfg.limit_request_line + 2 + fields + 4
        return RequestFrame(max_head=max_head, max_body=MAX_BODY_BYTES)

    def _admit(self, conn: IntakeConn, deadline: float) -> None:
        for dropped in self.intake.admit(conn, deadline):
            self.log.debug("closing %s: too many connections not yet sending", dropped.client)
            self._close(dropped)
        self._advance(conn)

    def _advance(self, conn: IntakeConn, _fileobj: Any = None) -> None:
        """Drive ``conn``'s handshake and request read; hand it to a thread once ready."""
        if conn.closed:  # dropped earlier in this round of events
            return
        progress = conn.step(time.monotonic())
        if progress is Progress.FAILED:
            self._close(conn)
            return
        if progress is Progress.READY:
            self._unwatch(conn)
            self.intake.discard(conn)
            conn.hand_over()
            self.enqueue_req(conn)
            return
        events = selectors.EVENT_READ if progress is Progress.WANT_READ else selectors.EVENT_WRITE
        self._watch(conn, events)
        for dropped in self.intake.update(conn):
            self.log.debug("closing %s: connections buffer too much", dropped.client)
            self._close(dropped)

    def _watch(self, conn: IntakeConn, events: int) -> None:
        callback = partial(self._advance, conn)
        try:
            self.poller.modify(conn.sock, events, callback)
        except KeyError:  # not registered yet
            self.poller.register(conn.sock, events, callback)

    def _unwatch(self, conn: IntakeConn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _park(self, conn: IntakeConn) -> None:
        """Wait for the next request on the poller, as ``gthread`` does."""
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        while len(self.keepalived_conns) >= MAX_IDLE:
            self._close(self.keepalived_conns.popleft())
        self.keepalived_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
        )

    def _close(self, conn: IntakeConn, graceful: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._unwatch(conn)
        self.intake.discard(conn)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.close(graceful=graceful)

    # -- a pool thread ----------------------------------------------------------------------

    def handle(self, conn: IntakeConn) -> Any:
        """Serve the connection's request, then the next ones while they follow closely."""
        result = super().handle(conn)
        while result is True and self.alive:
            linger = self._linger(conn)
            if linger is Linger.CLOSE:
                return False
            if linger is Linger.PARK:
                return True
            result = super().handle(conn)
        return result

    def handle_request(self, req: Any, conn: IntakeConn) -> Any:
        """gthread's, closing the connection after a request that was not framed whole."""
        if conn.close_after:
            req.force_close()
        return super().handle_request(req, conn)

    def _linger(self, conn: IntakeConn) -> Linger:
        """Read the next request within the linger time, while no one else waits."""
        conn.frame.feed(conn.parser.unreader.take_buffered())
        conn.sock.setblocking(False)
        deadline = time.monotonic() + LINGER_SECONDS
        while True:
            if conn.frame.status is not Framing.INCOMPLETE:
                conn.hand_over()
                return Linger.SERVE
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.alive or not self._no_one_waits():
                return Linger.PARK
            if _readable(conn.sock, min(remaining, POLL_SECONDS)) or _pending(conn.sock):
                progress = conn.read(time.monotonic())
                if progress is Progress.FAILED:
                    return Linger.CLOSE
                if progress is Progress.WANT_WRITE:
                    return Linger.PARK

    def _no_one_waits(self) -> bool:
        """No connection queues for a thread (unknown: assume one does, and do not linger)."""
        queue = getattr(self.tpool, "_work_queue", None)
        return queue is not None and queue.empty()


def _readable(sock: Any, seconds: float) -> bool:
    """Whether ``sock`` becomes readable within ``seconds`` (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def _pending(sock: Any) -> int:
    """Bytes TLS has decrypted and not yet handed out (the socket need not be readable)."""
    pending = getattr(sock, "pending", None)
    return int(pending()) if pending is not None else 0
