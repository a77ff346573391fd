"""The ``tidal`` strategy: per container, the simple model that would have cost it least on its
own recent hours (after Google's Autopilot), for the horizon its target is applied over.

Each model is a base times a margin ``m``: the largest hourly peak of the last ``w`` hours
(short windows follow the tide and adapt fast after a level shift; long ones remember daily and
weekly peaks), that or yesterday's peak for the coming hours, or the busiest hourly mean of the
last ``w`` hours x ``MEAN_SCALE`` (steadier for bursty containers). For every container the
strategy replays each model over the ``HISTORY_HOURS`` kept in
:class:`~recommender.model.windows.HourlyPeaks` and scores, weights halving every
``COST_HALF_LIFE_H`` hours:

    cost = (hours the model under-provisioned) + IDLE_COST x (idle amount-hours it reserved)

where idle = max(prediction - the hour's mean use, 0), in cores. The cheapest model whose
under-provisioned share stays within ``MAX_UNDER_RATE`` gives the target. ``IDLE_COST`` is the
exchange rate between an under-provisioned container-hour and an idle core-hour: larger
containers are sized tighter, small ones more safely, which is where the money is. Lower and
upper bounds, memory, GPUs, and the fallback for containers with less than ``MIN_HISTORY_H``
observed hours come from ``vpa``.

Two horizons (:mod:`recommender.logic.recommend`):

- *Next hours*, for a VPA whose pods are resized in place every hour: every model above,
  scored hour by hour, re-chosen every clock hour.
- *Held*, the default: a target frozen at pod creation, or read by a person, a report or a
  static manifest. Only models that look back whole days (``HELD_WINDOWS_H``,
  ``HELD_MEAN_WINDOWS_H``), on whole UTC days only (:func:`held_until`), so the number is the
  same whatever hour it is computed at and changes once a day; each model is scored as if
  frozen at every past hour and held for the ``HELD_HORIZON_H`` hours that followed it.
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
HELD_DAYS = 6  # held targets size from the last whole UTC days the week always holds
WINDOWS_H = (1, 3, 6, 12, 24, 72, 168)  # look-back windows of the candidate models
TIDE_WINDOWS_H = (1, 3, 6)  # recent windows combined with yesterday's same hours
TIDE_SPAN_H = 2  # yesterday's hours looked at: this one and the next
DAY_H = 24
# Steadier bases for bursty containers: the busiest hourly mean of the last w hours, x 1.5.
MEAN_WINDOWS_H = (1, 3, 24)
MEAN_SCALE = 1.5
MARGINS = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 2.0, 3.0)  # multipliers of the candidate models
HELD_WINDOWS_H = (24, 72, 144)  # held targets look back whole days: the tide's daily peak
HELD_MEAN_WINDOWS_H = (24, 72)
HELD_HORIZON_H = 24  # a held target is scored on the day after it was published
# Held predictions look back days and move slowly: each model is scored as published every
# third hour, on every second hour after it (so every hour of the day is scored), a sixth of
# the work of scoring every pair with the same choices in practice.
HELD_EVERY_H = 3
HELD_STRIDE_H = 2
# A day's peak is rarely needed all day: held models may also size below it.
HELD_MARGINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 2.0)
COST_HALF_LIFE_H = 72.0  # a model's past hours weigh half as much every 3 days
MIN_HISTORY_H = 6  # observed hours before the selection replaces vpa's target
GIB = float(2**30)
# Cost of one idle unit-hour relative to one under-provisioned container-hour.
# Only CPU follows the tide: it is compressible and resizable in place. GPUs are whole devices
# fixed at pod creation (no in-place resize), so a pod created at night must not get the
# night's GPU count; memory: vpa's daily peaks measured better (docs/quality.md).
IDLE_COST = {CPU: 1.5}
# A model that under-provisioned more than this share of a container's recent hours is not
# chosen for it, however cheap: the cost trade never leaves one container starved. Held
# targets are scored on the day after each hour, hence a share of (hour, later hour) pairs.
MAX_UNDER_RATE = 0.35
HELD_MAX_UNDER_RATE = 0.3
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
    base: VpaStrategy = field(default_factory=lambda: VpaStrategy(name="tidal", upstream=False))
    windows_h: tuple[int, ...] = WINDOWS_H
    margins: tuple[float, ...] = MARGINS
    tide_windows_h: tuple[int, ...] = TIDE_WINDOWS_H
    tide_span_h: int = TIDE_SPAN_H
    held_windows_h: tuple[int, ...] = HELD_WINDOWS_H
    held_horizon_h: int = HELD_HORIZON_H
    held_every_h: int = HELD_EVERY_H
    held_stride_h: int = HELD_STRIDE_H
    held_margins: tuple[float, ...] = HELD_MARGINS
    held_max_under_rate: float = HELD_MAX_UNDER_RATE
    mean_windows_h: tuple[int, ...] = MEAN_WINDOWS_H
    held_mean_windows_h: tuple[int, ...] = HELD_MEAN_WINDOWS_H
    mean_scale: float = MEAN_SCALE
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
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray,
        next_hours: np.ndarray | None = None,
    ) -> dict[str, Bounds]:
        """Bounds of ``rows``; ``next_hours`` marks the rows sized for the coming hours (their
        pods are resized in place), the others get held targets."""
        out = self.base.estimate(model, rows, share)
        peaks = HourlyPeaks.of(model)
        if peaks is None:  # a model built without prepare(): start observing now, vpa's
            self.prepare(model)  # numbers until MIN_HISTORY_H hours have been seen
            return out
        floors = {CPU: self.base.pod_min_cpu * share, MEMORY: self.base.pod_min_memory * share}
        for resource, bounds in list(out.items()):
            if resource not in self.idle_cost or resource not in peaks.peak:
                continue
            chosen = np.full(len(rows), np.nan)
            hourly = np.zeros(len(rows), bool) if next_hours is None else next_hours
            for held, pick in ((True, ~hourly), (False, hourly)):
                if pick.any():
                    chosen[pick] = self.targets(peaks, resource, rows[pick], held)
            target = np.where(np.isnan(chosen), bounds.target, chosen)
            target = np.maximum(target, floors.get(resource, 0.0))
            out[resource] = Bounds(
                target, np.minimum(bounds.lower, target), np.maximum(bounds.upper, target)
            )
        return out

    def hourly_profile(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Next-hours target of each row at each UTC hour of the last day (rows x 24, NaN
        where unknown): by the row's current next-hours model, floors applied."""
        peaks = HourlyPeaks.of(model)
        out: dict[str, np.ndarray] = {}
        if peaks is None or not len(rows):
            return out
        floors = {CPU: self.base.pod_min_cpu * share, MEMORY: self.base.pod_min_memory * share}
        for resource in self.idle_cost:
            if resource not in peaks.peak:
                continue
            self.targets(peaks, resource, rows)  # the choices, fresh
            choice = peaks.choices(self._owner(False), resource, int(rows.max()) + 1)[0][rows]
            hourly, mean = self.series(peaks, resource, rows)
            previous, _ = self.base_predictions(hourly, mean)
            base, margin = np.divmod(np.maximum(choice, 0), len(self.margins))
            hours = min(DAY_H, previous.shape[-1])
            day = previous[base, np.arange(len(rows)), -hours:]
            day = day * np.asarray(self.margins)[margin, None]
            day = np.where((choice >= 0)[:, None], day, np.nan)
            if resource in floors:
                day = np.fmax(day, floors[resource][:, None])
            profile = np.full((len(rows), DAY_H), np.nan)
            latest = peaks.ring.latest
            profile[:, np.arange(latest - hours + 1, latest + 1) % DAY_H] = day
            out[resource] = profile
        return out

    def base_predictions(
        self, hourly: np.ndarray, mean: np.ndarray, held: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each model's prediction before its margin, for every kept hour (from the hours
        before it) and for the next hour: ``(bases x rows x hours, bases x rows)``, from the
        hourly peaks and means.

        Recent models: the peak of the last ``w`` hours. Tidal models: that, or yesterday's
        peak over this hour and the next ``TIDE_SPAN_H - 1`` (so the morning rise is known
        before it comes back), whichever is larger. Mean models: the busiest hourly mean of
        the last ``w`` hours (``mean_windows_h``) x ``mean_scale``. Held: the peak of the
        last ``w`` hours for each of ``held_windows_h`` and the mean models of
        ``held_mean_windows_h``.
        """
        span = self.tide_span_h
        hours = hourly.shape[1]
        if held:
            maxima = window_maxima(hourly, self.held_windows_h)
            if self.held_mean_windows_h:
                means = window_maxima(mean, self.held_mean_windows_h) * self.mean_scale
                maxima = np.concatenate([maxima, means])
            return _previous(maxima), maxima[:, :, -1]
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
        if self.mean_windows_h:
            means = window_maxima(mean, self.mean_windows_h) * self.mean_scale
            for i in range(len(self.mean_windows_h)):
                bases.append(means[i])
                latest.append(means[i][:, -1])
        return _previous(np.stack(bases)), np.stack(latest)

    def _owner(self, held: bool) -> str:
        """Key of this strategy's cached choices for one horizon."""
        return f"{self!r}/{'held' if held else 'next-hours'}"

    @staticmethod
    def series(
        peaks: HourlyPeaks, resource: str, rows: np.ndarray, held: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hourly ``(peaks, means)`` the horizon sizes from: all kept hours for the next hours;
        held, the last ``HELD_DAYS`` whole UTC days (the same hours all day long)."""
        hourly, mean = peaks.series(resource, rows)
        if not held:
            return hourly, mean
        end = hourly.shape[1] - (peaks.ring.latest - held_until(peaks.ring.latest))
        begin = max(end - HELD_DAYS * DAY_H, 0)
        return hourly[:, begin:end], mean[:, begin:end]

    def choose(
        self, peaks: HourlyPeaks, resource: str, rows: np.ndarray, held: bool = False
    ) -> np.ndarray:
        """Index (base x margin) of each row's cheapest model; -1 with too little history.

        Each model is scored at every kept hour ``j`` on the hours its prediction made then
        covers: hour ``j`` alone for the next hours; held, every ``held_every_h``-th hour
        ``j`` on every ``held_stride_h``-th hour of ``j .. j + held_horizon_h - 1``.
        """
        hourly, mean = self.series(peaks, resource, rows, held)
        observed = ~np.isnan(hourly)
        hours = hourly.shape[1]
        bases, _ = self.base_predictions(hourly, mean, held)
        every = self.held_every_h if held else 1
        at = np.arange(hours - 1, -1, -every)[::-1]  # the prediction hours scored
        margins = np.asarray(self.held_margins if held else self.margins)
        # (bases, margins, rows, scored hours)
        predicted = bases[:, None, :, at] * margins[None, :, None, None]
        over = np.zeros(predicted.shape)
        idle = np.zeros(predicted.shape)
        seen = np.zeros((len(rows), len(at)))
        gap = np.empty(predicted.shape)
        under = np.empty(predicted.shape, dtype=bool)
        with np.errstate(invalid="ignore"):  # NaN (an hour without samples) scores nothing
            for ahead in range(0, self.held_horizon_h, self.held_stride_h) if held else (0,):
                hour = at + ahead
                inside = hour < hours
                hour = np.minimum(hour, hours - 1)
                peak = np.where(inside, hourly[:, hour], np.nan)
                use = np.where(inside, mean[:, hour], np.nan)
                np.greater(peak, predicted, out=under)
                over += under
                np.subtract(predicted, use, out=gap)
                idle += np.fmax(gap, 0.0, out=gap)
                seen += inside & observed[:, hour]
        weight = np.exp2((at - (hours - 1)) / self.cost_half_life_h)
        lam = self.idle_cost[resource] / IDLE_UNIT[resource]
        cost = ((over + lam * idle) * weight).sum(axis=-1).reshape(-1, len(rows))
        # Share of the row's (weighted) observed hours each model under-provisioned.
        rate = (over * weight).sum(axis=-1).reshape(-1, len(rows)) / np.maximum(
            (seen * weight).sum(axis=-1), 1e-12
        )
        admissible = rate <= (self.held_max_under_rate if held else self.max_under_rate)
        best = np.where(
            admissible.any(axis=0),
            np.argmin(np.where(admissible, cost, np.inf), axis=0),
            np.argmin(rate + 1e-9 * cost, axis=0),  # none admissible: the safest model
        )
        enough = observed.sum(axis=1) >= self.min_history_h
        return np.where(enough, best, -1)

    def predict(
        self, peaks: HourlyPeaks, resource: str, rows: np.ndarray, choice: np.ndarray,
        held: bool = False,
    ) -> np.ndarray:
        """Target of each row by its chosen model; NaN where none was chosen."""
        hourly, mean = self.series(peaks, resource, rows, held)
        _, latest = self.base_predictions(hourly, mean, held)
        margins = np.asarray(self.held_margins if held else self.margins)
        base, margin = np.divmod(np.maximum(choice, 0), len(margins))
        target = latest[base, np.arange(len(rows))] * margins[margin]
        return np.where((choice >= 0) & np.isfinite(target), target, np.nan)

    def select(
        self, peaks: HourlyPeaks, resource: str, rows: np.ndarray, held: bool = False
    ) -> np.ndarray:
        """Target of each row by its cheapest model; NaN with too little history."""
        choice = self.choose(peaks, resource, rows, held)
        return self.predict(peaks, resource, rows, choice, held)

    def targets(
        self, peaks: HourlyPeaks, resource: str, rows: np.ndarray, held: bool = False
    ) -> np.ndarray:
        """:meth:`select` for many rows, each row's model chosen once per clock hour (costs
        move only when an hour completes, so a loop every minute reuses the choice).

        Rows reaching ``min_history_h`` get their first choice at once; at most
        ``refresh_budget`` earlier choices are refreshed per call, oldest first, which bounds
        the cost of the loop right after an hour completes for very many containers.
        """
        choice, hour = peaks.choices(self._owner(held), resource, int(rows.max()) + 1)
        stamp = held_until(peaks.ring.latest) if held else peaks.ring.latest
        stale = hour[rows] != stamp
        fresh = stale & (choice[rows] < 0)
        fresh &= peaks.observed_hours(resource, rows) >= self.min_history_h
        old = rows[stale & (choice[rows] >= 0)]
        old = old[np.argsort(hour[old], kind="stable")][: self.refresh_budget]
        due = np.concatenate([rows[fresh], old])
        for i in range(0, len(due), ROW_CHUNK):
            chunk = due[i : i + ROW_CHUNK]
            choice[chunk] = self.choose(peaks, resource, chunk, held)
            hour[chunk] = stamp
        return np.concatenate([
            self.predict(peaks, resource, part, choice[part], held)
            for part in (rows[i : i + ROW_CHUNK] for i in range(0, len(rows), ROW_CHUNK))
        ])


def held_until(hour: int) -> int:
    """The newest hour a held target sizes from when ``hour`` (absolute, UTC) is the newest
    observed: the last hour of the newest UTC day that has reached it (23:00-24:00, perhaps
    in progress). Held targets so change once a day, not with the hour a command runs at."""
    return hour - (hour + 1) % DAY_H


def _previous(stacked: np.ndarray) -> np.ndarray:
    """The prediction for hour ``j`` is what was known at the end of hour ``j - 1``."""
    out = np.full_like(stacked, np.nan)
    out[..., 1:] = stacked[..., :-1]
    return out

