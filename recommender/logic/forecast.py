"""Peak forecasts of a workload's demand, for an HPA that scales before the tide comes in.

A demand signal (the sum over a workload's pods of CPU cores, busy GPUs or a PromQL value) lives
on a regular grid of ``step`` seconds: bucket ``i`` holds the samples of ``[t0 + i*step,
t0 + (i+1)*step)`` (:func:`demand_grid`). At step ``t`` the forecast is the peak of the signal
over the coming ``lead`` buckets (the workload's cold start plus one step), computed from the
buckets before ``t`` only:

    forecast(t) = level(t) + quantile_q( rise(s) for s in analogs(t) )

- ``level(t)``: the recent level, the largest bucket of the last ``lead`` buckets.
- ``rise(s) = peak(s) - level(s)``: how far the peak of the ``lead`` buckets from ``s`` rose
  above the level before ``s`` (negative where demand fell): the trend over the coming lead.
- ``analogs(t)``: daily and weekly seasonality, the same time of day on each of the last
  ``season_days`` days (the day a week ago, the same weekday, counted ``weekly_weight`` times),
  each also ``spread_steps`` steps either side for timing jitter.
- ``quantile`` is the margin: the rise is exceeded on about ``1 - q`` of the analogs. An HPA
  that scales on the forecast with its utilisation target's headroom (``AverageValue = target x
  one replica's capacity``) and takes the larger of it and the reactive metric is short of
  ready capacity only where a rise beats its seasonal precedents by more than that headroom.

With fewer than ``min_analogs`` analogs (less than a day of history) the forecast is the recent
level. Every parameter is named in :class:`ForecastParams`; none was fitted to a single trace
(``docs/forecast.md`` has the measurements and the variants that were rejected, among them a
linear trend of the last samples, which cost more replica-hours than it saved).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from recommender.history import Samples

DAY_S = 86400.0


@dataclass(frozen=True)
class ForecastParams:
    """The named parameters of :func:`peak_forecast`."""

    quantile: float = 0.5
    season_days: int = 7
    weekly_weight: int = 2
    spread_steps: int = 1
    min_analogs: int = 3


DEFAULT_PARAMS = ForecastParams()


@dataclass(frozen=True)
class DemandGrid:
    """Summed demand per workload on a regular grid; NaN where no pod reported."""

    keys: list[tuple[str, str]]  # (namespace, workload) per row
    t0: float  # start of bucket 0, a multiple of step
    step: float
    values: np.ndarray  # (workloads, buckets)

    def select(self, rows: np.ndarray) -> DemandGrid:
        """The workloads where ``rows`` (a boolean mask) is true."""
        keep = np.asarray(rows, dtype=bool)
        return DemandGrid([k for k, y in zip(self.keys, keep, strict=True) if y], self.t0,
                          self.step, self.values[keep])


def _series_interval(timestamp: np.ndarray, series: np.ndarray) -> float:
    """The median interval between consecutive samples of one series (pod container)."""
    order = np.lexsort((timestamp, series))
    ts, owner = timestamp[order], series[order]
    gaps = np.diff(ts)[(np.diff(owner) == 0) & (np.diff(ts) > 0)]
    return float(np.median(gaps)) if len(gaps) else 0.0


def demand_grid(samples: Samples, resource: str, step: float) -> DemandGrid:
    """A workload's summed demand of ``resource``, its peak per bucket of ``step`` seconds.

    Each pod container's samples go on a fine grid that nests in the buckets (at most one sample
    interval wide); a series carries its last value over a missing sample or two; the fine
    cells are summed over a workload's series and a bucket holds the largest sum. Buckets are
    aligned to multiples of ``step`` in Unix time, so a forecast at a multiple of the step sees
    only samples before it."""
    chosen = samples.select(samples.resource == resource)
    if not len(chosen):
        return DemandGrid([], 0.0, step, np.zeros((0, 0)))
    ns_names, ns = np.unique(chosen.namespace.astype(str), return_inverse=True)
    wl_names, wl = np.unique(chosen.workload.astype(str), return_inverse=True)
    pod_names, pod = np.unique(chosen.pod.astype(str), return_inverse=True)
    ct_names, ct = np.unique(chosen.container.astype(str), return_inverse=True)
    codes, workload = np.unique(ns.astype(np.int64) * len(wl_names) + wl, return_inverse=True)
    series_codes, series = np.unique(
        (workload.astype(np.int64) * len(pod_names) + pod) * len(ct_names) + ct,
        return_inverse=True)
    interval = _series_interval(chosen.timestamp, series)
    per_bucket = max(1, int(np.ceil(step / interval))) if interval > 0 else 1
    fine = step / per_bucket
    carry = max(1, int(np.ceil(interval / fine))) if interval > 0 else 1
    t0 = float(np.floor(chosen.timestamp.min() / step) * step)
    buckets = int(np.floor((chosen.timestamp.max() - t0) / step)) + 1
    cells = buckets * per_bucket
    cell = np.minimum(np.floor((chosen.timestamp - t0) / fine).astype(np.int64), cells - 1)
    # (series, fine cell): the series' largest sample there, carried over up to `carry` cells.
    grid = np.full((len(series_codes), cells), np.nan)
    np.fmax.at(grid, (series, cell), chosen.value)
    filled = grid.copy()
    for lag in range(1, carry + 1):
        gaps = np.isnan(filled[:, lag:])
        filled[:, lag:][gaps] = grid[:, :-lag][gaps]
    owner = np.zeros(len(series_codes), dtype=np.int64)
    owner[series] = workload
    summed = np.zeros((len(codes), cells))
    np.add.at(summed, owner, np.nan_to_num(filled))
    seen = np.zeros((len(codes), cells), dtype=bool)
    np.logical_or.at(seen, owner, np.isfinite(filled))
    summed[~seen] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # buckets with no sample stay NaN
        values = np.nanmax(summed.reshape(len(codes), buckets, per_bucket), axis=-1)
    keys = [(str(ns_names[c // len(wl_names)]), str(wl_names[c % len(wl_names)]))
            for c in codes.tolist()]
    return DemandGrid(keys, t0, step, values)


def _window_max(values: np.ndarray, start: np.ndarray, length: int,
                rows: np.ndarray | None = None) -> np.ndarray:
    """Largest value of buckets ``[start, start + length)`` per row (all, or ``rows``) and
    start (NaN if none)."""
    idx = np.asarray(start)[..., None] + np.arange(length)
    valid = (idx >= 0) & (idx < values.shape[1])
    cols = np.clip(idx, 0, max(values.shape[1] - 1, 0))
    picked = (values[:, cols] if rows is None
              else values[rows.reshape((-1,) + (1,) * cols.ndim), cols])
    gathered = np.where(valid, picked, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        return np.nanmax(gathered, axis=-1)


def analog_offsets(step: float, lead: int, params: ForecastParams = DEFAULT_PARAMS
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Analog offsets (buckets back from ``t``) and their weights: the same time of day on each
    of the last days, at least ``lead`` back, so an analog's window has ended before ``t``."""
    per_day = int(round(DAY_S / step))
    offsets: list[int] = []
    weights: list[int] = []
    for day in range(1, params.season_days + 1):
        for jitter in range(-params.spread_steps, params.spread_steps + 1):
            if day * per_day + jitter >= lead:
                offsets.append(day * per_day + jitter)
                weights.append(params.weekly_weight if day == 7 else 1)
    return np.array(offsets, dtype=np.int64), np.array(weights, dtype=np.int64)


def _quantile(rows: np.ndarray, q: float, minimum: int) -> np.ndarray:
    """The ``q`` quantile (linear) of the finite values along the last axis; 0 with fewer than
    ``minimum`` of them. A sort, much faster than ``np.nanquantile`` on many short rows."""
    ordered = np.sort(rows, axis=-1)  # NaN last
    known = np.isfinite(ordered).sum(axis=-1)
    pos = q * np.maximum(known - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(known - 1, 0))
    low = np.take_along_axis(ordered, lo[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, hi[..., None], axis=-1)[..., 0]
    value = low + (high - low) * (pos - lo)
    return np.where(known >= max(minimum, 1), value, 0.0)


def peak_forecast(
    values: np.ndarray, at: np.ndarray, lead: int, step: float,
    params: ForecastParams = DEFAULT_PARAMS, chunk: int = 256, rows: np.ndarray | None = None,
) -> np.ndarray:
    """Forecasts (W, len(at)) of the peak of buckets ``[t, t + lead)`` for each bucket index
    ``t`` in ``at``, from the buckets before ``t`` of ``values`` (W, T) only (or of its
    ``rows``, read in place); NaN where a workload has no bucket in the last ``lead``."""
    at = np.asarray(at, dtype=np.int64)
    lead = max(int(lead), 1)
    offsets, weights = analog_offsets(step, lead, params)
    needed, where = np.unique(at[:, None] - offsets[None, :], return_inverse=True)
    where = where.reshape(len(at), len(offsets))
    rise = (_window_max(values, needed, lead, rows)
            - _window_max(values, needed - lead, lead, rows))
    level = _window_max(values, at - lead, lead, rows)
    repeat = np.repeat(np.arange(len(offsets)), weights)
    margin = np.empty_like(level)
    for lo in range(0, len(at), chunk):
        analogs = rise[:, where[lo:lo + chunk][:, repeat]]  # (W, n, weighted analogs)
        margin[:, lo:lo + chunk] = _quantile(analogs, params.quantile, params.min_analogs)
    return np.maximum(level + margin, 0.0)
