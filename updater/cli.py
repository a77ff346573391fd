"""``tidal-updater``: resize running pods in place (or evict them) to their VPA's target."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

from recommender.cluster.api import ApiException, KubeApi, api_client
from recommender.cluster.leader import LeaseElector
from recommender.cluster.server import serve
from recommender.duration import parse_duration
from recommender.version import add_version
from updater.loop import LoopResult, Updater
from updater.settings import UpdaterSettings

log = logging.getLogger("updater")

EPILOG = """examples:
  tidal-updater --dry-run --once          # what one loop would do, as log lines and Events
  tidal-updater --namespace shop --eviction-rate-limit 0.5 --eviction-rate-burst 2
  python -m updater --kubeconfig .tidal/kubeconfig --no-leader-election --interval 10s
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    d = UpdaterSettings()
    p = argparse.ArgumentParser(
        prog="tidal-updater", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_version(p)
    add = p.add_argument
    add("--kubeconfig", help="kubeconfig (default: in-cluster, then ~/.kube/config)")
    add("--namespace", help="act in one namespace only (default: all)")
    add("--interval", type=_duration, default=d.interval_s, help="loop interval (default 1m)")
    add("--min-replicas", type=int, default=d.min_replicas,
        help="no update while a VPA has fewer live pods (default 2; the VPA's "
        "updatePolicy.minReplicas wins)")
    add("--eviction-tolerance", type=float, default=d.eviction_tolerance,
        help="share of a workload's replicas disrupted at once (default 0.5)")
    add("--eviction-rate-limit", type=float, default=d.rate_limit,
        help="evictions and resizes per second, all workloads (default -1: unlimited)")
    add("--eviction-rate-burst", type=int, default=d.rate_burst,
        help="burst of the rate limit (default 1)")
    add("--pod-update-threshold", type=float, default=d.pod_update_threshold,
        help="within bounds, update when requests are this far from target (default 0.1)")
    add("--in-recommendation-bounds-eviction-lifetime-threshold", type=_duration,
        default=d.lifetime_threshold_s, dest="lifetime",
        help="within bounds, only pods older than this (default 12h)")
    add("--evict-after-oom-threshold", type=_duration, default=d.evict_after_oom_s,
        help="an OOM kill this soon after start updates at once (default 10m)")
    add("--in-place-deferred-timeout", type=_duration, default=d.deferred_timeout_s,
        help="InPlaceOrRecreate evicts a resize Deferred this long (default 5m)")
    add("--in-place-in-progress-timeout", type=_duration, default=d.in_progress_timeout_s,
        help="InPlaceOrRecreate evicts a resize InProgress this long (default 1h)")
    add("--in-place-skip-disruption-budget", action="store_true",
        help="resizes that restart no container skip the eviction tolerance")
    add("--memory-limit-margin", type=float, default=d.memory_limit_margin,
        help="a memory limit is lowered in place only above use x (1 + this) (default 0.2)")
    add("--tide-hysteresis", type=float, default=d.tide_hysteresis,
        help="in place: follow target moves larger than this share (default 0.1)")
    add("--lower-after", type=_duration, default=d.lower_after_s,
        help="in place: a decrease waits until the lower target has held this long (default 1h)")
    add("--max-resizes-per-day", type=int, default=d.max_resizes_per_day,
        help="churn budget: resizes per pod in any 24 h (default 12)")
    add("--dry-run", action="store_true", help="only log and emit Events; change no pod")
    add("--no-leader-election", action="store_true", help="act without holding the Lease")
    add("--lease-namespace", default=os.environ.get("POD_NAMESPACE", d.lease_namespace),
        help="namespace of the Lease (default $POD_NAMESPACE, else default)")
    add("--qps", type=float, default=d.qps, help="API client QPS (default 50)")
    add("--burst", type=int, default=d.burst, help="API client burst (default 100)")
    add("--port", type=int, default=d.port, help="/metrics and /healthz port (default 8943)")
    add("--once", action="store_true", help="one loop, then exit")
    add("-v", "--verbose", action="store_true", help="debug logging")
    return p  # fmt: skip


def settings_from(args: argparse.Namespace) -> UpdaterSettings:
    for name in ("eviction_tolerance", "pod_update_threshold", "memory_limit_margin",
                 "tide_hysteresis"):  # fmt: skip
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
    if args.min_replicas < 1:
        raise ValueError("--min-replicas must be at least 1")
    return UpdaterSettings(
        interval_s=args.interval,
        min_replicas=args.min_replicas,
        eviction_tolerance=args.eviction_tolerance,
        rate_limit=args.eviction_rate_limit,
        rate_burst=args.eviction_rate_burst,
        pod_update_threshold=args.pod_update_threshold,
        lifetime_threshold_s=args.lifetime,
        evict_after_oom_s=args.evict_after_oom_threshold,
        deferred_timeout_s=args.in_place_deferred_timeout,
        in_progress_timeout_s=args.in_place_in_progress_timeout,
        in_place_skip_disruption_budget=args.in_place_skip_disruption_budget,
        memory_limit_margin=args.memory_limit_margin,
        tide_hysteresis=args.tide_hysteresis,
        lower_after_s=args.lower_after,
        max_resizes_per_day=args.max_resizes_per_day,
        dry_run=args.dry_run,
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
        qps=args.qps,
        burst=args.burst,
        leader_election=not args.no_leader_election,
        lease_namespace=args.lease_namespace,
        identity=os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        port=args.port,
    )


def _summary(result: LoopResult) -> str:
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "none"
    return (
        f"loop: {result.vpas} VPAs, {result.pods} pods, {len(result.resized)} resized, "
        f"{len(result.evicted)} evicted; skipped: {skipped}"
    )


def run(settings: UpdaterSettings, once: bool) -> int:
    api = KubeApi(api_client(settings.kubeconfig), settings.qps, settings.burst)
    updater = Updater(api, settings, identity=settings.identity)
    if once:
        log.info("%s", _summary(updater.run_once()))
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started = time.time()
    leading = threading.Event()

    def healthy() -> bool:
        """Standbys are healthy; a leader whose loop has not succeeded for long is not."""
        last = updater.last_success or started
        return not leading.is_set() or time.time() - last < max(5 * settings.interval_s, 300.0)

    server = serve(updater.telemetry.registry, healthy, settings.port)
    elector = None
    if settings.leader_election:
        elector = LeaseElector(api, settings.lease_namespace, settings.lease_name,
                               settings.identity, settings.lease_duration_s)  # fmt: skip
    log.info("updater serving /metrics and /healthz on :%d%s", settings.port,
             " (dry run)" if settings.dry_run else "")  # fmt: skip
    try:
        while not stop.is_set():
            if elector is not None and not elector.try_acquire_or_renew():
                leading.clear()
                updater.telemetry.leader.set(0)
                stop.wait(settings.retry_period_s)
                continue
            leading.set()
            updater.telemetry.leader.set(1)
            deadline = time.monotonic() + settings.interval_s
            try:
                log.info("%s", _summary(updater.run_once()))
            except ApiException as exc:
                log.warning("loop failed: %s %s", exc.status, exc.reason)
            while not stop.is_set() and time.monotonic() < deadline:
                stop.wait(min(settings.retry_period_s, max(deadline - time.monotonic(), 0.0)))
                if elector is not None and not elector.try_acquire_or_renew():
                    leading.clear()
                    break
    finally:
        if elector is not None:
            elector.release()
        server.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        settings = settings_from(args)
        return run(settings, args.once)
    except ValueError as exc:
        print(f"tidal-updater: error: {exc}", file=sys.stderr)
        return 2
    except ApiException as exc:
        print(f"tidal-updater: error: the API server refused: {exc.status} {exc.reason}",
              file=sys.stderr)  # fmt: skip
        return 1
    except Exception as exc:  # kubeconfig and client errors: one line, no traceback
        print(f"tidal-updater: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
