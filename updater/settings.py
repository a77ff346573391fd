"""The updater's settings: one typed object built from flags, passed explicitly.

Defaults follow upstream VPA 1.7's updater flags (named in the comments) where it has one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpdaterSettings:
    """Everything ``tidal-updater`` is told."""

    interval_s: float = 60.0  # --updater-interval
    min_replicas: int = 2  # --min-replicas (a VPA's updatePolicy.minReplicas wins)
    eviction_tolerance: float = 0.5  # --eviction-tolerance: share of a workload disrupted at once
    # --eviction-rate-limit / --eviction-rate-burst; here they bound resizes too. <= 0: no limit.
    rate_limit: float = -1.0
    rate_burst: int = 1
    pod_update_threshold: float = 0.1  # --pod-update-threshold: within bounds, act above this
    lifetime_threshold_s: float = 12 * 3600.0  # --in-recommendation-bounds-eviction-lifetime-...
    evict_after_oom_s: float = 600.0  # --evict-after-oom-threshold (per VPA: evictAfterOOMSeconds)
    deferred_timeout_s: float = 300.0  # a resize Deferred this long falls back to eviction
    in_progress_timeout_s: float = 3600.0  # a resize InProgress this long falls back too
    in_place_skip_disruption_budget: bool = False  # --in-place-skip-disruption-budget
    # A memory limit is lowered in place only to at least the container's use x (1 + margin);
    # without a reading of its use (metrics.k8s.io) the limit is kept.
    memory_limit_margin: float = 0.2
    # Following the tide (in-place modes): a move of more than ``tide_hysteresis`` is applied at
    # any pod age; a decrease only once the lower target has held for ``lower_after_s``; at most
    # ``max_resizes_per_day`` resizes per pod in any 24 h, of which the last ``raise_reserve``
    # are kept for increases.
    tide_hysteresis: float = 0.1
    lower_after_s: float = 3600.0
    max_resizes_per_day: int = 12
    raise_reserve: int = 2
    dry_run: bool = False
    kubeconfig: str | None = None
    namespace: str | None = None  # act in one namespace only (default: all)
    qps: float = 50.0
    burst: int = 100
    leader_election: bool = True
    lease_name: str = "tidal-updater"
    lease_namespace: str = "default"
    lease_duration_s: float = 15.0
    retry_period_s: float = 2.0
    identity: str = ""
    port: int = 8943
    page_size: int = 500
