"""Backtest in replicas: the HPA controller's algorithm replayed on a workload's demand.

Each workload's demand (:class:`~recommender.logic.forecast.DemandGrid`, one value per bucket)
is served by replicas of a fixed capacity. The simulation follows the HPA controller as
documented (kubernetes.io, "Horizontal Pod Autoscaling"), every ``sync_s`` seconds:

- a *resource* metric (utilisation of ``target_utilization``): ``ratio = demand / (ready x
  capacity x target)``; pods not yet ready count as 0% when scaling up and as 100% of the target
  when scaling down; no change within ``tolerance`` of 1; otherwise ``ceil(ratio x pods)``;
- an *External* metric ``tidal_forecast`` with ``AverageValue = target x capacity`` (the same
  headroom): ``ceil(forecast / AverageValue)``, with the same tolerance;
- the larger proposal wins; scale-down takes the largest proposal of the last
  ``stabilization_s``; scale-up is limited to ``max(+4 pods, +100%)`` per sync (the default
  policies); at least ``min_replicas``, at most ``max_replicas``;
- a new replica is ready ``cold_start_s`` after it is created; scale-down removes pods that are
  not ready first, newest first (as the ReplicaSet controller does).

Demand above ready capacity (ready replicas x capacity) is *under capacity*. Strategies stack
along the workload axis, so one loop simulates them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recommender.logic.forecast import DemandGrid, peak_forecast

STATIC = "static-peak"
REACTIVE = "reactive"
TIDAL = "tidal"
NAIVE = "naive"
ORACLE = "oracle"
STRATEGIES = (STATIC, REACTIVE, TIDAL, NAIVE, ORACLE)
REFERENCES = {NAIVE: "the larger of the last lead and the same window yesterday",
              ORACLE: "the true peak of the coming lead: perfect foresight"}


@dataclass(frozen=True)
class HpaSetup:
    """The simulated HPA and workload."""

    cold_start_s: float = 600.0
    target_utilization: float = 0.8
    tolerance: float = 0.1
    sync_s: float = 15.0
    stabilization_s: float = 300.0
    min_replicas: int = 1
    max_replicas: int = 10_000
    gpus_per_replica: float = 0.0

    def lead_buckets(self, step: float) -> int:
        """Forecast lead in buckets: the cold start plus one step."""
        return int(math.ceil(self.cold_start_s / step)) + 1


@dataclass
class ReplicaResult:
    """One strategy's figures, overall and per workload (scored after the warm-up)."""

    strategy: str
    replica_hours: np.ndarray  # per workload
    under_share: np.ndarray  # share of simulated time with demand above ready capacity
    scale_events: np.ndarray
    ready: np.ndarray = field(repr=False)  # (workloads, buckets) ready replicas at bucket end
    replicas: np.ndarray = field(repr=False)  # (workloads, buckets) spec replicas at bucket end

    @property
    def total_replica_hours(self) -> float:
        return float(self.replica_hours.sum())

    @property
    def total_under_share(self) -> float:
        """Share of all workload-minutes under capacity."""
        return float(self.under_share.mean()) if len(self.under_share) else 0.0


def replica_capacity(demand: np.ndarray, spec: str | float) -> np.ndarray:
    """One replica's capacity per workload: a number in the signal's units, or ``pNN/K``, the
    NN-th percentile of the workload's demand divided by K (``p99/10``: ten replicas at p99)."""
    if isinstance(spec, int | float):
        return np.full(demand.shape[0], float(spec))
    text = str(spec).strip()
    if text.startswith("p") and "/" in text:
        q, divisor = text[1:].split("/", 1)
        pct, div = float(q), float(divisor)
        if not 0 < pct <= 100 or div <= 0:
            raise ValueError(f"invalid replica capacity {text!r}: use pNN/K, e.g. p99/10")
        with np.errstate(all="ignore"):
            return np.nan_to_num(np.nanpercentile(demand, pct, axis=1)) / div
    value = float(text)
    if value <= 0:
        raise ValueError(f"replica capacity must be positive, got {text!r}")
    return np.full(demand.shape[0], value)


def _shifted_max(values: np.ndarray, back: int, length: int) -> np.ndarray:
    """Per bucket t: the largest of buckets ``[t - back, t - back + length)`` (NaN if none)."""
    out = np.full(values.shape, -np.inf)
    for offset in range(length):
        lag = back - offset
        src = np.full(values.shape, np.nan)
        if lag > 0:
            src[:, lag:] = values[:, :-lag]
        elif lag < 0:
            src[:, :lag] = values[:, -lag:]
        else:
            src = values
        out = np.fmax(out, src)
    out[np.isinf(out)] = np.nan
    return out


def forecasts(grid: DemandGrid, lead: int) -> dict[str, np.ndarray]:
    """The forecast each forecasting strategy gives the HPA at every bucket."""
    values = grid.values
    per_day = int(round(86400 / grid.step))
    return {
        TIDAL: peak_forecast(values, np.arange(values.shape[1]), lead, grid.step),
        NAIVE: np.fmax(_shifted_max(values, lead, lead), _shifted_max(values, per_day, lead)),
        ORACLE: _shifted_max(values, 0, lead),
    }


def simulate(
    demand: np.ndarray, capacity: np.ndarray, forecast: np.ndarray | None, setup: HpaSetup,
    step: float, score_from: int = 0, progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replay the HPA on ``demand`` (W, T buckets of ``step`` s; NaN = 0). Returns per row
    replica-hours, under-capacity share and scale events from bucket ``score_from``, and ready
    and spec replicas at each bucket's end."""
    demand = np.nan_to_num(demand)
    rows, buckets = demand.shape
    per = max(1, int(round(step / setup.sync_s)))
    sync = step / per
    cold = int(math.ceil(setup.cold_start_s / sync))
    stab = max(1, int(math.ceil(setup.stabilization_s / sync)))
    target = setup.target_utilization
    cap = np.maximum(capacity, 1e-12)
    total = np.clip(np.ceil(demand[:, 0] / (target * cap)), setup.min_replicas,
                    setup.max_replicas).astype(np.int64)
    ready = total.copy()
    pending = np.zeros((max(cold, 1), rows), np.int64)
    proposals = np.repeat(total[None, :], stab, axis=0)
    under = np.zeros(rows)
    replica_syncs = np.zeros(rows)
    events = np.zeros(rows)
    ready_at = np.zeros((rows, buckets), np.int64)
    spec_at = np.zeros((rows, buckets), np.int64)
    has_forecast = None if forecast is None else np.isfinite(forecast)
    forecast = None if forecast is None else np.nan_to_num(forecast)
    scored = 0
    for k in range(buckets * per):
        j = k // per
        if progress is not None and k % 2000 == 0:
            progress(k, buckets * per)
        if cold:
            slot = k % cold
            ready += pending[slot]
            pending[slot] = 0
        d = demand[:, j]
        unready = total - ready
        ratio = d / (np.maximum(ready, 1) * cap * target)
        up = ratio > 1 + setup.tolerance
        down = ratio < 1 - setup.tolerance
        ratio = np.where(up & (unready > 0), d / (total * cap * target), ratio)
        ratio = np.where(down & (unready > 0), (d / cap + unready * target) / (total * target),
                         ratio)
        proposal = np.where(np.abs(ratio - 1) <= setup.tolerance, total,
                            np.ceil(ratio * total - 1e-9)).astype(np.int64)
        if forecast is not None and has_forecast is not None:
            f = forecast[:, j]
            f_ratio = f / (total * cap * target)
            f_proposal = np.where(np.abs(f_ratio - 1) <= setup.tolerance, total,
                                  np.ceil(f / (cap * target) - 1e-9)).astype(np.int64)
            proposal = np.where(has_forecast[:, j], np.maximum(proposal, f_proposal), proposal)
        proposal = np.clip(proposal, setup.min_replicas, setup.max_replicas)
        proposals[k % stab] = proposal
        new = np.where(proposal >= total, proposal, np.minimum(proposals.max(axis=0), total))
        new = np.minimum(new, np.maximum(total + 4, 2 * total))
        added = np.maximum(new - total, 0)
        removed = np.maximum(total - new, 0)
        if cold:
            pending[k % cold] += added
            if removed.any():  # pods not yet ready go first, newest first
                newest = (k - np.arange(cold)) % cold
                queued = pending[newest]
                before = np.cumsum(queued, axis=0) - queued
                taken = np.clip(removed[None, :] - before, 0, queued)
                pending[newest] = queued - taken
                removed = removed - taken.sum(axis=0)
        else:
            ready += added
        ready -= removed
        events += new != total
        total = new
        if j >= score_from:
            under += d > ready * cap * (1 + 1e-9)
            replica_syncs += total
            scored += 1
        if k % per == per - 1:
            ready_at[:, j] = ready
            spec_at[:, j] = total
    scored = max(scored, 1)
    return (replica_syncs * sync / 3600.0, under / scored, events, ready_at, spec_at)


def backtest_replicas(
    grid: DemandGrid, capacity: np.ndarray, setup: HpaSetup, score_from: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[ReplicaResult]:
    """Every strategy on every workload of ``grid``, one replica serving ``capacity`` (> 0)."""
    demand = np.nan_to_num(grid.values)
    lead = setup.lead_buckets(grid.step)
    predicted = forecasts(grid, lead)
    rows = len(capacity)
    # Stack the HPA strategies along the workload axis: one loop simulates all of them.
    order = (REACTIVE, TIDAL, NAIVE, ORACLE)
    stacked_forecast = np.vstack([np.full(demand.shape, np.nan)]
                                 + [predicted[name] for name in order[1:]])
    hours, under, events, ready, spec = simulate(
        np.tile(demand, (len(order), 1)), np.tile(capacity, len(order)), stacked_forecast,
        setup, grid.step, score_from, progress)
    results = []
    static = np.clip(np.ceil(demand.max(axis=1, initial=0.0)
                             / (setup.target_utilization * np.maximum(capacity, 1e-12))),
                     setup.min_replicas, setup.max_replicas)
    scored_h = max(demand.shape[1] - score_from, 0) * grid.step / 3600.0
    static_grid = np.repeat(static[:, None], demand.shape[1], axis=1).astype(np.int64)
    static_under = (demand[:, score_from:] > static[:, None] * capacity[:, None]).mean(axis=1) \
        if demand.shape[1] > score_from else np.zeros(rows)
    results.append(ReplicaResult(STATIC, static * scored_h, static_under,
                                 np.zeros(rows), static_grid, static_grid))
    for i, name in enumerate(order):
        part = slice(i * rows, (i + 1) * rows)
        results.append(ReplicaResult(name, hours[part], under[part], events[part],
                                     ready[part], spec[part]))
    return results
