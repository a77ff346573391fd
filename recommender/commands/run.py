"""``tidal-recommender run``: the in-cluster recommender (VPA status, checkpoints, Lease)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
import threading
import time

from recommender.cluster.api import ApiException, KubeApi, api_client
from recommender.cluster.leader import LeaseElector
from recommender.cluster.loop import Recommender
from recommender.cluster.server import serve
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.telemetry import Telemetry
from recommender.commands.common import (
    UsageError,
    add_prometheus_auth_args,
    prometheus_auth,
    prometheus_selector,
)
from recommender.duration import parse_duration
from recommender.input.prometheus import PrometheusSettings, PrometheusSource
from recommender.logic.recommend import BY_UPDATE_MODE, HELD
from recommender.metrics_api.auth import (
    AUTH_CONFIGMAP,
    Authenticator,
    Authorizer,
    RequestHeaderConfig,
)
from recommender.metrics_api.server import MetricsApiServer

HELP = "run in the cluster: keep every served VPA's status recommendation current"
EXAMPLES = """examples:
  tidal-recommender run --name tidal --prometheus-url http://prometheus:9090
  tidal-recommender run --kubeconfig ~/.kube/config --namespace shop --no-leader-election --once
  tidal-recommender run --metrics-api-port 6443 --metrics-api-cert /certs/tls.crt \\
      --metrics-api-key /certs/tls.key
"""
log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    d = RecommenderSettings()
    parser.add_argument("--name", default=d.name,
                        help="recommender name matched against spec.recommenders; `default` "
                        "also serves VPAs naming none (default tidal)")
    parser.add_argument(
        "--serve-unnamed", choices=("auto", "always", "never"), default=d.serve_unnamed,
        help="VPAs that name no recommender in spec.recommenders: never (upstream's rule: only "
        "a recommender named default serves them), always, or auto: unless upstream's "
        f"vpa-recommender runs in the cluster (default {d.serve_unnamed}; the manifests: auto)")
    parser.add_argument("--kubeconfig", help="kubeconfig (default: in-cluster, then ~/.kube)")
    parser.add_argument("--namespace", help="serve one namespace only (default: all)")
    parser.add_argument("--interval", default="1m", help="loop interval (default 1m)")
    parser.add_argument("--prometheus-url", help="Prometheus for history bootstrap and GPUs")
    add_prometheus_auth_args(parser)
    parser.add_argument("--history-length", default="8d",
                        help="history to bootstrap from Prometheus (default 8d)")
    parser.add_argument("--history-resolution", default="1h",
                        help="bootstrap resolution (default 1h)")
    parser.add_argument("--qps", type=float, default=d.qps, help="API client QPS (default 50)")
    parser.add_argument("--burst", type=int, default=d.burst, help="API burst (default 100)")
    parser.add_argument("--workers", type=int, default=d.workers,
                        help="parallel status writers (default 10)")
    parser.add_argument("--strategy", default=d.strategy,
                        help=f"recommendation strategy (default {d.strategy})")
    parser.add_argument(
        "--horizon", choices=(BY_UPDATE_MODE, HELD), default=d.horizon,
        help="status targets always hold for a pod's life; update-mode (default): VPAs with an "
        "in-place updateMode also get the coming hours' targets in the annotation "
        "tidal.dev/next-hours-recommendation, which tidal-updater applies; held: none do",
    )
    parser.add_argument("--gpu-model", help="GPU model (default: dcgm-exporter's modelName)")
    parser.add_argument("--status-tolerance", type=float, default=d.status_tolerance,
                        help="relative change that makes a status worth patching (0.03)")
    parser.add_argument("--checkpoint-interval", default="10m",
                        help="how often each aggregate's checkpoint is written (default 10m)")
    parser.add_argument("--no-leader-election", action="store_true",
                        help="act without holding the Lease (one replica only)")
    parser.add_argument("--lease-namespace",
                        default=os.environ.get("POD_NAMESPACE", d.lease_namespace),
                        help="namespace of the leader-election Lease (default: $POD_NAMESPACE, "
                        f"else {d.lease_namespace})")
    parser.add_argument("--port", type=int, default=d.port, help="/metrics and /healthz port")
    parser.add_argument("--once", action="store_true", help="one loop, then exit")
    forecast = parser.add_argument_group(
        "forecasts", "tidal_forecast for HPAs: served as the external metrics API "
        "(external.metrics.k8s.io, behind the API aggregator) and on /metrics")
    forecast.add_argument("--metrics-api-port", type=int, default=d.metrics_api_port,
                          help="serve the external metrics API over TLS on this port "
                          "(default: not served)")
    forecast.add_argument("--metrics-api-bind", default=d.metrics_api_bind,
                          help=f"address it listens on (default {d.metrics_api_bind})")
    forecast.add_argument("--metrics-api-cert", default=d.metrics_api_cert,
                          help="its serving certificate (PEM), e.g. from tidal-certs")
    forecast.add_argument("--metrics-api-key", default=d.metrics_api_key,
                          help="its private key (PEM)")
    forecast.add_argument("--forecast-lead", default="15m",
                          help="how far ahead to forecast when the HPA has no "
                          "tidal.dev/forecast-lead annotation: the cold start plus one loop "
                          "(default 15m)")
    forecast.add_argument("--forecast-step", default="5m",
                          help="resolution of the demand history behind forecasts (default 5m)")


def settings_from(args: argparse.Namespace) -> RecommenderSettings:
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    return RecommenderSettings(
        name=args.name,
        serve_unnamed=args.serve_unnamed,
        interval_s=parse_duration(args.interval),
        kubeconfig=args.kubeconfig,
        prometheus_url=args.prometheus_url,
        prometheus_auth=prometheus_auth(args),
        prometheus_selector=prometheus_selector(args),
        history_length_s=parse_duration(args.history_length),
        history_resolution_s=parse_duration(args.history_resolution),
        qps=args.qps,
        burst=args.burst,
        workers=args.workers,
        strategy=args.strategy,
        horizon=args.horizon,
        gpu_model=args.gpu_model,
        status_tolerance=args.status_tolerance,
        checkpoint_interval_s=parse_duration(args.checkpoint_interval),
        leader_election=not args.no_leader_election,
        lease_namespace=args.lease_namespace,
        identity=identity,
        port=args.port,
        namespace=args.namespace,
        metrics_api_port=args.metrics_api_port,
        metrics_api_bind=args.metrics_api_bind,
        metrics_api_cert=args.metrics_api_cert,
        metrics_api_key=args.metrics_api_key,
        forecast_lead_s=parse_duration(args.forecast_lead),
        forecast_step_s=parse_duration(args.forecast_step),
    )


def build(settings: RecommenderSettings, telemetry: Telemetry) -> Recommender:
    api = KubeApi(api_client(settings.kubeconfig), settings.qps, settings.burst)
    prometheus = None
    if settings.prometheus_url:
        prometheus = PrometheusSource(PrometheusSettings(
            url=settings.prometheus_url,
            history_length_s=settings.history_length_s,
            resolution_s=settings.history_resolution_s,
            chunk_s=settings.history_chunk_s,
            namespace=settings.namespace,
            auth=settings.prometheus_auth, selector=settings.prometheus_selector,
        ))
    return Recommender(settings, api, prometheus, telemetry)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    telemetry = Telemetry()
    try:
        recommender = build(settings, telemetry)
    except Exception as exc:  # kubeconfig and client errors: a clean message
        raise UsageError(f"cannot build the Kubernetes client: {exc}") from None
    if args.once:
        report = recommender.run_once()
        log.info("%s", report)
        # An absent metrics API or Prometheus is a degraded source, not a failed loop.
        return 1 if set(report.errors) - {"metrics_api", "prometheus"} else 0
    started = time.time()

    def healthy() -> bool:
        """Standbys are healthy; a leader whose loop has not finished for long is not."""
        if not recommender.leading:
            return True
        last = recommender.last_loop_end or started
        return time.time() - last < max(5 * settings.interval_s, 300.0)

    metrics_api = start_metrics_api(recommender) if settings.metrics_api_port else None
    server = serve(telemetry.registry, healthy, settings.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    elector = None
    if settings.leader_election:
        elector = LeaseElector(
            recommender.api, settings.lease_namespace, settings.lease, settings.identity,
            settings.lease_duration_s,
        )
    log.info("recommender %r serving on :%d", settings.name, settings.port)
    try:
        recommender.run(stop, elector)
    finally:
        server.shutdown()
        if metrics_api is not None:
            metrics_api.stop()
    return 0


def start_metrics_api(recommender: Recommender) -> MetricsApiServer:
    """The external metrics API on ``--metrics-api-port``, trusting the request-header CA
    the API server publishes; a clear error when it cannot be set up."""
    s = recommender.settings
    if not (s.metrics_api_cert and s.metrics_api_key):
        raise UsageError("--metrics-api-port needs --metrics-api-cert and --metrics-api-key")
    try:
        published = recommender.api.get(AUTH_CONFIGMAP)
    except (ApiException, OSError) as exc:
        raise UsageError(f"reading {AUTH_CONFIGMAP}: {getattr(exc, 'reason', exc)}") from None
    if published is None:
        raise UsageError(f"{AUTH_CONFIGMAP} does not exist: is this a Kubernetes API server?")
    try:
        config = RequestHeaderConfig.from_configmap(published.get("data") or {})
        return MetricsApiServer(
            recommender.board, Authenticator(config), Authorizer(recommender.api.create),
            s.metrics_api_cert, s.metrics_api_key, s.metrics_api_bind, s.metrics_api_port,
        ).start()
    except (ValueError, OSError, ssl.SSLError) as exc:
        raise UsageError(f"external metrics API: {exc}") from None
