"""The recommender's own Prometheus metrics (prefix ``tidal_``), on an injectable registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Telemetry:
    """Loop duration, VPAs served, samples ingested and dropped, status writes, errors."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.loop_seconds = Histogram(
            "tidal_recommender_loop_duration_seconds", "Duration of one recommender loop",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=r,
        )
        self.vpas = Gauge("tidal_recommender_vpas", "VPAs served by this recommender", registry=r)
        self.aggregates = Gauge(
            "tidal_recommender_aggregates", "Container aggregates in the model", registry=r
        )
        self.samples = Counter(
            "tidal_recommender_samples_ingested", "Usage samples ingested", ["source"],
            registry=r,
        )
        self.dropped = Counter(
            "tidal_recommender_samples_dropped", "Malformed samples dropped (NaN, negative)",
            ["source"], registry=r,
        )
        self.status_writes = Counter(
            "tidal_recommender_status_writes", "VPA status patches sent", registry=r
        )
        self.status_skipped = Counter(
            "tidal_recommender_status_unchanged",
            "VPA statuses not written because nothing changed meaningfully", registry=r,
        )
        self.checkpoints = Counter(
            "tidal_recommender_checkpoints_written", "Checkpoints written", registry=r
        )
        self.checkpoints_deleted = Counter(
            "tidal_recommender_checkpoints_deleted", "Orphaned checkpoints deleted", registry=r
        )
        self.errors = Counter(
            "tidal_recommender_errors", "Errors by stage", ["stage"], registry=r
        )
        self.upstream = Gauge(
            "tidal_recommender_upstream_vpa_pods",
            "Pods of upstream VPA components seen (vpa-recommender, vpa-admission-controller, "
            "vpa-updater): beside Tidal's, two parts do one job", ["component"], registry=r,
        )
        self.leader = Gauge(
            "tidal_recommender_leader", "1 while this replica holds the Lease", registry=r
        )
