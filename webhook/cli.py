"""``tidal-webhook``: serve the admission webhook over TLS with gunicorn.

Imports stay inside :func:`serve` so that ``PROMETHEUS_MULTIPROC_DIR`` is set before
``prometheus_client`` is first imported, as its multiprocess mode requires.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from recommender.version import add_version
from webhook.settings import DEFAULT_PORT, DEFAULT_THREADS, DEFAULT_WORKERS, ServeSettings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal-webhook",
        description="Tidal admission webhook: pods get VPA recommendations, "
        "conflicting HPA/VPA pairs are rejected",
    )
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve /mutate, /validate, /healthz, /readyz, /metrics")
    serve.add_argument("--cert", required=True, type=Path, help="PEM serving certificate")
    serve.add_argument("--key", required=True, type=Path, help="PEM private key")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTPS port (8443)")
    serve.add_argument("--bind", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    serve.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube)")
    serve.add_argument(
        "--state-file",
        type=Path,
        help="serve a fixed cluster state from a YAML file of objects instead of watching "
        "a cluster (demos, tests, benchmarks)",
    )
    serve.add_argument(
        "--no-cluster", action="store_true", help="do not contact a cluster: allow everything"
    )
    serve.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="processes (2)")
    serve.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads each (4)")
    serve.add_argument(
        "--noop-endpoint", action="store_true", help="add POST /noop (the benchmark's floor)"
    )
    serve.add_argument("--access-log", action="store_true", help="log every request to stderr")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.add_argument(
        "--status-lease", metavar="NAMESPACE/NAME",
        help="renew this Lease while serving with synced caches, as upstream's admission "
        "controller does, so that upstream's vpa-updater runs beside this webhook (its "
        "default: kube-system/vpa-admission-controller)",
    )
    return parser


def _metrics_dir() -> tuple[str, bool]:
    """The multiprocess metrics directory, emptied; and whether we created it."""
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        os.makedirs(existing, exist_ok=True)
        for name in os.listdir(existing):
            if name.endswith(".db"):
                os.unlink(os.path.join(existing, name))
        return existing, False
    created = tempfile.mkdtemp(prefix="tidal-webhook-metrics-")
    os.environ[MULTIPROC_ENV] = created
    return created, True


def ensure_port_free(host: str, port: int) -> None:
    """Refuse to start on a port another server listens on. The workers' listening sockets
    share the port with ``SO_REUSEPORT`` (so one server's workers spread its connections),
    which would also let a second server bind it and take half of the connections: a bind
    without ``SO_REUSEPORT`` is refused while any listener holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    f"{host}:{port}: address already in use (another tidal-webhook or server "
                    "listens there); stop it or choose another --port"
                ) from None
            raise


def serve(args: argparse.Namespace) -> int:
    settings = ServeSettings(
        cert=args.cert,
        key=args.key,
        port=args.port,
        bind=args.bind,
        kubeconfig=args.kubeconfig,
        state_file=args.state_file,
        no_cluster=args.no_cluster,
        workers=args.workers,
        threads=args.threads,
        noop_endpoint=args.noop_endpoint,
        access_log=args.access_log,
        log_level=args.log_level,
        status_lease=args.status_lease,
    )
    settings.validate()
    ensure_port_free(settings.bind, settings.port)
    directory, created = _metrics_dir()
    arbiter = os.getpid()
    try:
        from webhook.server import WebhookServer
        from webhook.tls import build_context

        build_context(settings.cert, settings.key)  # fail now, not at the first connection
        log.info("tidal-webhook serving https://%s (%d workers x %d threads)",
                 settings.address, settings.workers, settings.threads)
        WebhookServer(settings).run()
    finally:
        # Workers are forked inside run() and leave it through SystemExit, so this block runs
        # in each exiting worker too: only the arbiter may remove the shared directory, or a
        # reload or one worker's exit leaves its replacements without it.
        if created and os.getpid() == arbiter:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return serve(args)
    except (ValueError, OSError) as exc:
        print(f"tidal-webhook: error: {exc}", file=sys.stderr)
        return 2
