"""The updater's own Prometheus metrics (prefix ``tidal_updater_``), on an injectable registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Telemetry:
    """Resizes, evictions, fallbacks to eviction, skips by reason, failures, loop time."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.loop_seconds = Histogram(
            "tidal_updater_loop_duration_seconds", "Duration of one updater loop",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=r,
        )  # fmt: skip
        self.resizes = Counter(
            "tidal_updater_resizes", "Pods resized in place, by update mode", ["mode"],
            registry=r,
        )  # fmt: skip
        self.evictions = Counter(
            "tidal_updater_evictions", "Pods evicted to be recreated, by update mode", ["mode"],
            registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "tidal_updater_fallbacks",
            "InPlaceOrRecreate evictions because in place was not possible, by cause",
            ["reason"], registry=r,
        )  # fmt: skip
        self.skips = Counter(
            "tidal_updater_skips", "Pod decisions not acted on, by reason", ["reason"],
            registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "tidal_updater_failures", "Resizes or evictions the API refused", ["action"],
            registry=r,
        )  # fmt: skip
        self.leader = Gauge(
            "tidal_updater_leader", "1 while this replica holds the Lease", registry=r
        )
