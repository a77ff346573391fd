"""The in-cluster recommender's settings: one typed object built from flags, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from recommender.input.prometheus import PrometheusAuth
from recommender.logic.recommend import BY_UPDATE_MODE
from recommender.logic.strategies import DEFAULT_STRATEGY


@dataclass(frozen=True)
class RecommenderSettings:
    """Everything ``tidal-recommender run`` is told; defaults follow upstream VPA."""

    name: str = "tidal"
    # VPAs that name no recommender: always, never (upstream's rule: only "default" serves
    # them), or auto: unless upstream's vpa-recommender runs (seen among the pods).
    serve_unnamed: str = "never"
    interval_s: float = 60.0
    kubeconfig: str | None = None
    prometheus_url: str | None = None
    prometheus_auth: PrometheusAuth = field(default_factory=PrometheusAuth)
    prometheus_selector: str = ""  # label matchers of this cluster in a shared Prometheus
    history_length_s: float = 8 * 86400.0
    history_resolution_s: float = 3600.0
    history_chunk_s: float = 86400.0
    qps: float = 50.0
    burst: int = 100
    workers: int = 10
    strategy: str = DEFAULT_STRATEGY
    # Status targets are always held (safe for a pod created at any hour). update-mode: VPAs
    # whose pods are resized in place (InPlace, InPlaceOrRecreate) also get next-hours
    # targets in an annotation (recommender.cluster.next_hours); held: none do.
    horizon: str = BY_UPDATE_MODE
    gpu_model: str | None = None
    round_cpu_millicores: int = 1
    round_memory_bytes: int = 1
    # Status is patched only when a quantity moves by more than this fraction (or conditions
    # change): upper bounds move every loop while confidence grows.
    status_tolerance: float = 0.03
    checkpoint_interval_s: float = 600.0
    checkpoint_deadline_s: float = 5.0  # per loop; the rest waits for the next loops
    gc_interval_s: float = 600.0
    leader_election: bool = True
    lease_name: str = ""  # default: tidal-recommender-<name>
    lease_namespace: str = "default"
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    identity: str = ""
    port: int = 8080
    # The external metrics API (tidal_forecast for HPAs); 0: not served.
    metrics_api_port: int = 0
    metrics_api_bind: str = "0.0.0.0"
    metrics_api_cert: str = ""
    metrics_api_key: str = ""
    forecast_step_s: float = 300.0
    forecast_lead_s: float = 900.0  # without the HPA's tidal.dev/forecast-lead
    namespace: str | None = None  # watch one namespace only (default: all)
    page_size: int = 500

    @property
    def lease(self) -> str:
        return self.lease_name or f"tidal-recommender-{self.name}"
