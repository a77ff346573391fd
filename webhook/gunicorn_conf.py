"""gunicorn configuration for the webhook: worker model, limits, timeouts and hooks.

The apiserver keeps connections alive, so a threaded keep-alive worker serves it (a ``sync``
worker would pay a TLS handshake on every admission): gunicorn's ``gthread``, which
:mod:`webhook.worker` keeps on a busy connection between requests. The hooks reach the
running :class:`webhook.server.WebhookServer` through ``worker.app``.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from gunicorn import sock

from webhook.arbiter import WebhookArbiter, report_listening
from webhook.metrics import mark_worker_dead
from webhook.settings import ServeSettings

WORKER_CLASS = "webhook.worker.LingeringThreadWorker"
# Seconds an idle keep-alive connection is held open (the apiserver idles up to 90 s).
KEEPALIVE_SECONDS = 30
# Seconds for in-flight requests after SIGTERM; within the pod's terminationGracePeriod (30 s,
# of which the preStop hook sleeps 5).
GRACEFUL_TIMEOUT_SECONDS = 20
WORKER_TIMEOUT_SECONDS = 30
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190
# How long a new worker waits for its cluster caches before it listens anyway (then it admits
# unchanged, as failurePolicy Ignore would, and /readyz says so until they sync).
SYNC_WAIT_SECONDS = 10.0


def settings(serve: ServeSettings) -> dict[str, Any]:
    """gunicorn settings for ``serve`` (hooks included; ``ssl_context`` is bound by the app).

    Names the installed gunicorn does not know are skipped by the caller.
    """
    return {
        "bind": [serve.address],
        "worker_class": WORKER_CLASS,
        "workers": serve.workers,
        "threads": serve.threads,
        "keepalive": KEEPALIVE_SECONDS,
        # A listening socket per worker (SO_REUSEPORT): the kernel spreads connections over the
        # processes instead of the busiest one winning every accept (docs/webhook.md).
        "reuse_port": True,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "certfile": str(serve.cert),
        "keyfile": str(serve.key),
        "accesslog": "-" if serve.access_log else None,
        "errorlog": "-",
        "loglevel": serve.log_level,
        "proc_name": "tidal-webhook",
        # gunicorn >= 25 opens a control socket under $HOME: not wanted in a read-only pod.
        "control_socket_disable": True,
        "post_fork": post_fork,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
    }


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: start its caches (watch threads do not survive a fork), and listen
    only once they have synced.

    With a listening socket per worker (``reuse_port``) the kernel hands a share of new
    connections to a worker from the moment its socket exists: a worker replacing a dead one
    would admit them before it knows any VPA. Its sockets are closed until the caches sync
    (at most :data:`SYNC_WAIT_SECONDS`), so the other workers take the connections meanwhile.
    """
    per_worker = server.cfg.reuse_port and hasattr(socket, "SO_REUSEPORT")
    if per_worker:  # first, so that as few connections as possible reach the new socket
        for listener in worker.sockets:
            listener.close()
    worker.app.start_worker()  # a state file is loaded here, a cluster's caches start
    state = worker.app.state
    if per_worker and worker.app.watches_cluster and state is not None:
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        while state.enabled and not state.ready and time.monotonic() < deadline:
            worker.tmp.notify()  # the arbiter's heartbeat check: alive, only not listening yet
            time.sleep(0.02)
        if not state.ready:
            server.log.warning("worker %s listens with its cluster caches not synced",
                               worker.pid)
    if per_worker:
        worker.sockets = sock.create_sockets(server.cfg, server.log)
    report_listening(server, worker.pid)  # a reload may now stop the worker this replaces


def worker_exit(server: Any, worker: Any) -> None:
    """The worker is stopping: stop its watch threads."""
    worker.app.stop_worker()


def child_exit(server: Any, worker: Any) -> None:
    """In the arbiter: forget the dead worker's live gauges and that it listened."""
    mark_worker_dead(worker.pid)
    if isinstance(server, WebhookArbiter):
        server.forget(worker.pid)
