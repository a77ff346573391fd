"""Prometheus metrics (``tidal_webhook_*``), multiprocess-aware for gunicorn.

Under gunicorn ``PROMETHEUS_MULTIPROC_DIR`` is set before ``prometheus_client`` is imported
(see :mod:`webhook.cli`), every worker writes its samples there and /metrics aggregates them
with a ``MultiProcessCollector``, as client_python's multiprocess guide describes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def multiprocess_mode() -> bool:
    """True when samples go to a shared directory (gunicorn)."""
    return bool(os.environ.get(MULTIPROC_ENV))


class WebhookMetrics:
    """The webhook's metrics, registered in ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.multiprocess = multiprocess_mode()
        # In multiprocess mode values live in files; the scrape registry is built per request.
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = None if self.multiprocess else self.registry
        self.requests = Counter(
            "tidal_webhook_requests_total",
            "HTTP requests by endpoint and status code",
            ["endpoint", "code"],
            registry=reg,
        )
        self.latency = Histogram(
            "tidal_webhook_request_duration_seconds",
            "Time to answer an admission request",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.decisions = Counter(
            "tidal_webhook_decisions_total",
            "Admission decisions by object kind",
            ["kind", "decision", "dry_run"],
            registry=reg,
        )
        self.fail_open = Counter(
            "tidal_webhook_fail_open_total",
            "Requests allowed because the webhook failed",
            ["kind"],
            registry=reg,
        )
        self.cache_age = Gauge(
            "tidal_webhook_cache_age_seconds",
            "Seconds since a cache was last known current (largest over workers)",
            ["kind"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.cache_synced = Gauge(
            "tidal_webhook_cache_synced",
            "1 when every cache of the worker has synced (lowest over workers)",
            registry=reg,
            multiprocess_mode="livemin",
        )

        self.upstream = Gauge(
            "tidal_webhook_upstream_admission_controller",
            "1 when upstream's vpa-admission-controller is registered beside this webhook",
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.memo = Gauge(
            "tidal_webhook_pod_patch_memo_lookups",
            "Pod patch lookups in the per-template memo since each live worker started",
            ["result"],
            registry=reg,
            multiprocess_mode="livesum",
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead worker's live gauges."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)
