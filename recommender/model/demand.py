"""Each tracked workload's summed demand, bucket by bucket, for the online forecast.

Rows are ``(namespace, workload, resource)``; columns are consecutive buckets of ``step_s``
seconds, column 0 being bucket ``base`` (bucket ``b`` covers ``[b*step, (b+1)*step)`` in Unix
time). Samples are summed over a workload's pods per bucket (:func:`demand_grid`) and merged
by maximum, so batches may overlap. When time runs past the last column the oldest
``shift_days`` are dropped at once: the array stays contiguous in time, and a forecast reads it
without a copy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from recommender.history import Samples
from recommender.logic.forecast import DAY_S, ForecastParams, demand_grid, peak_forecast

Key = tuple[str, str, str]  # namespace, workload (Kind/name), resource


class DemandHistory:
    """The last ``days`` (plus up to ``shift_days``) of tracked workloads' demand."""

    def __init__(self, step_s: float = 60.0, days: float = 8.0, shift_days: float = 1.0) -> None:
        self.step = float(step_s)
        self.keep = int(round(days * DAY_S / self.step))
        self.shift = max(1, int(round(shift_days * DAY_S / self.step)))
        self.span = self.keep + self.shift
        self.base: int | None = None
        self.rows: dict[Key, int] = {}
        self.values = np.full((0, self.span), np.nan, dtype=np.float32)

    def track(self, keys: Iterable[Key]) -> None:
        """Keep history for exactly these keys (new ones start empty, others are dropped)."""
        wanted = list(dict.fromkeys(keys))
        if wanted == list(self.rows):
            return
        fresh = np.full((len(wanted), self.span), np.nan, dtype=np.float32)
        for i, key in enumerate(wanted):
            old = self.rows.get(key)
            if old is not None:
                fresh[i] = self.values[old]
        self.rows = {key: i for i, key in enumerate(wanted)}
        self.values = fresh

    def add(self, samples: Samples) -> int:
        """Merge the tracked workloads' samples; returns how many buckets were written."""
        if not self.rows or not len(samples):
            return 0
        written = 0
        for resource in {key[2] for key in self.rows} & set(samples.resource.tolist()):
            grid = demand_grid(samples, resource, self.step)
            if not grid.keys:
                continue
            first = int(round(grid.t0 / self.step))
            self._advance(first + grid.values.shape[1] - 1)
            assert self.base is not None
            rows = [self.rows.get((ns, wl, resource)) for ns, wl in grid.keys]
            for i, row in enumerate(rows):
                if row is None:
                    continue
                lo = first - self.base
                start = max(lo, 0)
                part = grid.values[i, start - lo:]
                cols = slice(start, start + len(part))
                self.values[row, cols] = np.fmax(self.values[row, cols], part)
                written += int(np.isfinite(part).sum())
        return written

    def put(self, key: Key, times: np.ndarray, values: np.ndarray) -> None:
        """Merge one tracked series' values (already summed) at ``times``."""
        row = self.rows.get(key)
        if row is None or not len(times):
            return
        buckets = np.floor(np.asarray(times) / self.step).astype(np.int64)
        self._advance(int(buckets.max()))
        assert self.base is not None
        cols = buckets - self.base
        keep = cols >= 0
        np.fmax.at(self.values[row], cols[keep], np.asarray(values, dtype=np.float32)[keep])

    def _advance(self, bucket: int) -> None:
        if self.base is None:
            self.base = bucket - self.keep + 1
        overflow = bucket - (self.base + self.span - 1)
        if overflow > 0:
            drop = max(self.shift, overflow)
            kept = max(self.span - drop, 0)
            self.values[:, :kept] = self.values[:, self.span - kept:]
            self.values[:, kept:] = np.nan
            self.base += drop

    def forecast(self, now: float, lead_s: Iterable[float],
                 params: ForecastParams | None = None) -> np.ndarray:
        """Per row (in ``rows`` order) the forecast of the peak over ``[now, now + lead]``:
        the level includes the current, partly filled bucket (every sample so far) and the
        forecast covers whole buckets from its end; NaN without recent samples."""
        leads = np.array(list(lead_s), dtype=np.float64)
        out = np.full(len(self.rows), np.nan)
        if self.base is None or not len(out):
            return out
        at = int(np.floor(now / self.step)) + 1 - self.base
        for lead in np.unique(leads):
            steps = max(1, int(np.ceil(lead / self.step - 1e-9)))
            rows = np.flatnonzero(leads == lead)
            out[rows] = peak_forecast(self.values, np.array([at]), steps, self.step,
                                      params or ForecastParams(), rows=rows)[:, 0]
        return out
