"""gunicorn's ``gthread`` worker, keeping a busy kept-alive connection on its thread.

``gthread`` hands every kept-alive connection back to its main thread's poller after each
response, and the next request on it travels poller -> pool queue -> thread: three thread
wake-ups per admission. The kube-apiserver sends admissions on a few kept-alive connections,
so when the next request follows within :data:`LINGER_SECONDS` this worker serves it on the
same thread straight away. It stops lingering as soon as another connection waits for a
thread, so the pool is never held by an idle connection while work queues.
"""

from __future__ import annotations

import select
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# How long a thread waits for the next request on its connection before handing it back to
# the poller. The apiserver's next admission on a busy connection follows within milliseconds.
LINGER_SECONDS = 0.025
# How often a lingering thread checks whether other connections wait for a thread.
POLL_SECONDS = 0.005


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` that serves back-to-back requests on a connection without hand-offs."""

    def handle(self, conn: Any) -> Any:
        """Serve the connection's request, then the next ones while they follow closely."""
        result = super().handle(conn)
        while result is True and self.alive and self._next_request_soon(conn):
            result = super().handle(conn)
        return result

    def _next_request_soon(self, conn: Any) -> bool:
        """Whether ``conn`` has a request within the linger time while no one else waits."""
        deadline = time.monotonic() + LINGER_SECONDS
        while self.alive and self._no_one_waits():
            pending = getattr(conn.sock, "pending", None)  # TLS: bytes already decrypted
            if conn.parser.unreader.buf.getvalue() or (pending is not None and pending()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([conn.sock], [], [], min(remaining, POLL_SECONDS))
            if readable:
                return True
        return False

    def _no_one_waits(self) -> bool:
        """No connection queues for a thread (unknown: assume one does, and do not linger)."""
        queue = getattr(self.tpool, "_work_queue", None)
        return queue is not None and queue.empty()
