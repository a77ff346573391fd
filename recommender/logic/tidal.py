"""The ``tidal`` strategy: size for the next hour, choosing per container among simple models
by what each would have cost on the container's own recent hours (after Google's Autopilot).

Each model ``(w, m)`` predicts the next hour's need as ``m x`` the largest hourly peak of the last
``w`` hours (short windows follow the tide and adapt fast after a level shift; long ones
remember daily and weekly peaks). For every container the strategy replays each model over the
``HISTORY_HOURS`` kept in :class:`~recommender.model.windows.HourlyPeaks` and scores, with
weights halving every ``COST_HALF_LIFE_H`` hours:

    cost = (hours the model under-provisioned) + IDLE_COST x (idle amount-hours it reserved)

where idle = max(prediction - the hour's mean use, 0), in cores, GiB or GPUs. The cheapest model
sizes the next hour. ``IDLE_COST`` is the exchange rate between an under-provisioned
container-hour and an idle core-/GiB-/GPU-hour: larger containers are sized tighter, small
ones more safely, which is where the money is. Lower and upper bounds, GPU memory, and the
fallback for containers with less than ``MIN_HISTORY_H`` observed hours come from ``vpa``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.history import CPU, GPU, MEMORY
from recommender.logic.estimators import Bounds
from recommender.logic.strategies import VpaStrategy
from recommender.model.state import UsageModel
from recommender.model.windows import HourlyPeaks

HISTORY_HOURS = 168  # hourly peaks kept per container (one week: daily and weekly tides)
WINDOWS_H = (1, 3, 6, 12, 24, 72, 168)  # look-back windows of the candidate models
TIDE_WINDOWS_H = (1, 3, 6)  # recent windows combined with yesterday's same hours
TIDE_SPAN_H = 2  # yesterday's hours looked at: this one and the next
DAY_H = 24
MARGINS = (1.0, 1.15, 1.3, 1.5, 2.0, 3.0)  # multipliers of the candidate models
COST_HALF_LIFE_H = 72.0  # a model's past hours weigh half as much every 3 days
MIN_HISTORY_H = 6  # observed hours before the selection replaces vpa's target
GIB = float(2**30)
# Cost of one idle unit-hour relative to one under-provisioned container-hour.
# Only CPU follows the tide: it is compressible and resizable in place. GPUs are whole devices
# fixed at pod creation (no in-place resize), so a pod created at night must not get the
# night's GPU count; memory: vpa's daily peaks measured better (docs/quality.md).
IDLE_COST = {CPU: 2.0}
# A model that under-provisioned more than this share of a container's recent hours is not
# chosen for it, however cheap: the cost trade never leaves one container starved.
MAX_UNDER_RATE = 0.2
IDLE_UNIT = {CPU: 1.0, MEMORY: GIB, GPU: 1.0}  # cores, GiB, busy GPUs
ROW_CHUNK = 256  # containers evaluated at once: bounds the temporaries, stays in cache
REFRESH_BUDGET = 4096  # earlier choices refreshed per estimate (bounds a loop's cost)


def window_maxima(peaks: np.ndarray, windows: tuple[int, ...]) -> np.ndarray:
    """``out[i, r, j]`` = max of ``peaks[r, j - windows[i] + 1 .. j]`` (NaN-ignoring), by a
    sparse table of power-of-two windows."""
    rows, hours = peaks.shape
    levels = [peaks]
    width = 1
    while width * 2 <= max(windows):
        prev = levels[-1]
        shifted = np.full_like(prev, np.nan)
        shifted[:, width:] = prev[:, :-width]
        levels.append(np.fmax(prev, shifted))
        width *= 2
    out = np.empty((len(windows), rows, hours))
    for i, w in enumerate(windows):
        k = int(np.floor(np.log2(w)))
        level, offset = levels[k], w - 2**k
        out[i] = level
        if offset:
            shifted = np.full_like(level, np.nan)
            shifted[:, offset:] = level[:, :-offset]
            out[i] = np.fmax(level, shifted)
    return out


@dataclass(frozen=True)
class TidalStrategy:
    """Per-container cost-weighted choice among (window, margin) models of hourly peaks."""

    name: str = "tidal"
    description: str = "next-hour sizing, per-container cost-weighted model choice (Autopilot)"
    base: VpaStrategy = field(default_factory=lambda: VpaStrategy(name="tidal"))
    windows_h: tuple[int, ...] = WINDOWS_H
    margins: tuple[float, ...] = MARGINS
    tide_windows_h: tuple[int, ...] = TIDE_WINDOWS_H
    tide_span_h: int = TIDE_SPAN_H
    cost_half_life_h: float = COST_HALF_LIFE_H
    min_history_h: int = MIN_HISTORY_H
    idle_cost: dict[str, float] = field(default_factory=lambda: dict(IDLE_COST))
    max_under_rate: float = MAX_UNDER_RATE
    refresh_budget: int = REFRESH_BUDGET

    def prepare(self, model: UsageModel) -> None:
        """Attach the hourly peaks this strategy needs (before the model ingests anything)."""
        if HourlyPeaks.of(model) is None:
            HourlyPeaks(HISTORY_HOURS, tuple(self.idle_cost)).attach(model)

    def estimate(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray
    ) -> dict[str, Bounds]:
        out = self.base.estimate(model, rows, share)
        peaks = HourlyPeaks.of(model)
        if peaks is None:  # a model built without prepare(): start observing now, vpa's
            self.prepare(model)  # numbers until MIN_HISTORY_H hours have been seen
            return out
        floors = {CPU: self.base.pod_min_cpu * share, MEMORY: self.base.pod_min_memory * share}
        for resource, bounds in list(out.items()):
            if resource not in self.idle_cost or resource not in peaks.peak:
                continue
            chosen = self.targets(peaks, resource, rows) if len(rows) else np.zeros(0)
            target = np.where(np.isnan(chosen), bounds.target, chosen)
            target = np.maximum(target, floors.get(resource, 0.0))
            out[resource] = Bounds(
                target, np.minimum(bounds.lower, target), np.maximum(bounds.upper, target)
            )
        return out

    def base_predictions(self, hourly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each model's prediction before its margin, for every kept hour (from the hours
        before it) and for the next hour: ``(bases x rows x hours, bases x rows)``.

        Recent models: the peak of the last ``w`` hours. Tidal models: that, or yesterday's
        peak over this hour and the next ``TIDE_SPAN_H - 1`` (so the morning rise is known
        before it comes back), whichever is larger.
        """
        span = self.tide_span_h
        hours = hourly.shape[1]
        windows = tuple(sorted({*self.windows_h, *self.tide_windows_h, span}))
        maxima = window_maxima(hourly, windows)
        at = {w: maxima[i] for i, w in enumerate(windows)}
        lag = DAY_H - span + 1  # yesterday's window for hour j ends at hour j - lag
        yesterday = np.full_like(at[span], np.nan)  # at the end of hour j, for hour j + 1
        yesterday[:, lag - 1:] = at[span][:, : hours - lag + 1]
        bases, latest = [], []
        for w in self.windows_h:
            bases.append(at[w])
            latest.append(at[w][:, -1])
        for w in self.tide_windows_h:
            bases.append(np.fmax(at[w], yesterday))  # as of the end of each hour
            latest.append(np.fmax(at[w][:, -1], at[span][:, -lag]))
        stacked = np.stack(bases)
        # The prediction for hour j is what was known at the end of hour j - 1.
        previous = np.full_like(stacked, np.nan)
        previous[:, :, 1:] = stacked[:, :, :-1]
        return previous, np.stack(latest)

    def choose(self, peaks: HourlyPeaks, resource: str, rows: np.ndarray) -> np.ndarray:
        """Index (base x margin) of each row's cheapest model; -1 with too little history."""
        hourly, mean = peaks.series(resource, rows)
        observed = ~np.isnan(hourly)
        hours = hourly.shape[1]
        bases, _ = self.base_predictions(hourly)
        margins = np.asarray(self.margins)
        predicted = bases[:, None] * margins[None, :, None, None]  # (bases, margins, rows, hours)
        weight = np.exp2((np.arange(hours) - (hours - 1)) / self.cost_half_life_h)
        scored = observed & ~np.isnan(predicted)
        with np.errstate(invalid="ignore"):
            over = scored & (hourly > predicted)
            idle = np.where(scored, np.maximum(predicted - mean, 0.0), 0.0)
        lam = self.idle_cost[resource] / IDLE_UNIT[resource]
        cost = ((over + lam * idle) * weight).sum(axis=-1).reshape(-1, len(rows))
        # Share of the row's (weighted) observed hours each model under-provisioned.
        seen = (observed * weight).sum(axis=-1)
        rate = (over * weight).sum(axis=-1).reshape(-1, len(rows)) / np.maximum(seen, 1e-12)
        admissible = rate <= self.max_under_rate
        best = np.where(
            admissible.any(axis=0),
            np.argmin(np.where(admissible, cost, np.inf), axis=0),
            np.argmin(rate + 1e-9 * cost, axis=0),  # none admissible: the safest model
        )
        enough = observed.sum(axis=1) >= self.min_history_h
        return np.where(enough, best, -1)

    def predict(
        self, peaks: HourlyPeaks, resource: str, rows: np.ndarray, choice: np.ndarray
    ) -> np.ndarray:
        """Next-hour target of each row by its chosen model; NaN where none was chosen."""
        hourly, _ = peaks.series(resource, rows)
        _, latest = self.base_predictions(hourly)
        margins = np.asarray(self.margins)
        base, margin = np.divmod(np.maximum(choice, 0), len(margins))
        target = latest[base, np.arange(len(rows))] * margins[margin]
        return np.where((choice >= 0) & np.isfinite(target), target, np.nan)

    def select(self, peaks: HourlyPeaks, resource: str, rows: np.ndarray) -> np.ndarray:
        """Next-hour target of each row by its cheapest model; NaN with too little history."""
        return self.predict(peaks, resource, rows, self.choose(peaks, resource, rows))

    def targets(self, peaks: HourlyPeaks, resource: str, rows: np.ndarray) -> np.ndarray:
        """:meth:`select` for many rows, each row's model chosen once per clock hour (costs
        move only when an hour completes, so a loop every minute reuses the choice).

        Rows reaching ``min_history_h`` get their first choice at once; at most
        ``refresh_budget`` earlier choices are refreshed per call, oldest first, which bounds
        the cost of the loop right after an hour completes for very many containers.
        """
        choice, hour = peaks.choices(repr(self), resource, int(rows.max()) + 1)
        stale = hour[rows] != peaks.ring.latest
        fresh = stale & (choice[rows] < 0)
        fresh &= peaks.observed_hours(resource, rows) >= self.min_history_h
        old = rows[stale & (choice[rows] >= 0)]
        old = old[np.argsort(hour[old], kind="stable")][: self.refresh_budget]
        due = np.concatenate([rows[fresh], old])
        for i in range(0, len(due), ROW_CHUNK):
            chunk = due[i : i + ROW_CHUNK]
            choice[chunk] = self.choose(peaks, resource, chunk)
            hour[chunk] = peaks.ring.latest
        return np.concatenate([
            self.predict(peaks, resource, rows[i : i + ROW_CHUNK], choice[rows[i : i + ROW_CHUNK]])
            for i in range(0, len(rows), ROW_CHUNK)
        ])
