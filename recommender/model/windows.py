"""Windowed usage state kept beside the :class:`UsageModel` as one of its observers.

- :class:`HourlyPeaks`: per aggregate, the peak, sum and count of each clock hour over the last
  ``hours`` hours (a ring shared by all rows): what time-aware strategies size from.
- :class:`DailyHistograms`: per aggregate, one undecayed histogram and one maximum per UTC day
  over the last ``days`` days (a ring): percentiles and maxima "over the last N days".

Both are fed batch by batch, in time order, through ``UsageModel.observers``; samples older
than the ring are ignored. OOM samples count as a peak of the bumped memory the model records.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from recommender.history import CPU, GPU, MEMORY, OOM
from recommender.model.buckets import CPU_BUCKETS, GPU_BUCKETS, MEMORY_BUCKETS, BucketScheme
from recommender.model.histograms import DecayingHistograms
from recommender.model.state import UsageModel

HOUR_S = 3600.0
DAY_S = 86400.0
WINDOWED_RESOURCES = (CPU, MEMORY, GPU)
NO_DECAY_HALF_LIFE_S = 1e15  # "forever": weights stay 1.0 across any real trace


def _grow(a: np.ndarray, rows: int, fill: float) -> np.ndarray:
    if rows <= a.shape[0]:
        return a
    out = np.full((max(rows, 2 * a.shape[0], 16), *a.shape[1:]), fill, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


class _Ring:
    """A ring of ``length`` periods of ``period_s`` shared by all rows."""

    def __init__(self, length: int, period_s: float) -> None:
        self.length = length
        self.period_s = period_s
        self.latest = -1  # absolute period index of the newest column
        self.period = np.full(length, -1, dtype=np.int64)  # absolute period held by a column

    def advance(self, periods: np.ndarray) -> list[int]:
        """Move to the newest of ``periods``; returns the columns to clear."""
        newest = int(periods.max())
        if newest <= self.latest:
            return []
        first = max(self.latest + 1, newest - self.length + 1)
        cleared = [p % self.length for p in range(first, newest + 1)]
        self.period[cleared] = np.arange(first, newest + 1)
        self.latest = newest
        return cleared

    def columns(self, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column of each period and whether the ring still holds it."""
        cols = periods % self.length
        return cols, self.period[cols] == periods

    def chronological(self) -> tuple[np.ndarray, np.ndarray]:
        """Columns oldest -> newest and whether each holds its period."""
        periods = np.arange(self.latest - self.length + 1, self.latest + 1)
        cols = periods % self.length
        return cols, self.period[cols] == periods


class _ModelObserver:
    """State a strategy keeps beside the model, fed every batch the model ingests."""

    def observe(
        self, resource: str, rows: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> None:
        raise NotImplementedError

    model: UsageModel | None = None  # the observed model, once attached (its OOM bumps)

    def attach(self, model: UsageModel) -> Self:
        self.model = model
        model.observers.append(self.observe)
        return self

    def _bumped(self, rows: np.ndarray, used: np.ndarray) -> np.ndarray:
        """The memory an OOM kill stands for, with each row's bump (the model's)."""
        assert self.model is not None, "observe() is called by the model it is attached to"
        return self.model.oom_bump(rows, used)

    @classmethod
    def of(cls, model: UsageModel) -> Self | None:
        """The instance of this class observing ``model``, if any."""
        for observer in model.observers:
            owner = getattr(observer, "__self__", None)
            if isinstance(owner, cls):
                return owner
        return None


class HourlyPeaks(_ModelObserver):
    """Peak, sum and count of every clock hour for each aggregate, last ``hours`` hours."""

    def __init__(
        self, hours: int = 168, resources: tuple[str, ...] = WINDOWED_RESOURCES
    ) -> None:
        self.ring = _Ring(hours, HOUR_S)
        # Peaks stay float64 (a target must never round below the sample it sizes for); sums
        # and counts are float32: 16 bytes per container-hour and resource, 2.7 KB a week.
        self.peak = {r: np.zeros((0, hours)) for r in resources}
        self.total = {r: np.zeros((0, hours), dtype=np.float32) for r in resources}
        self.count = {r: np.zeros((0, hours), dtype=np.float32) for r in resources}
        # Strategies' per-row choices and the hour each was made in (-1: none), by strategy
        # and resource, kept here so a choice is made once an hour, not on every loop.
        self._choices: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def choices(self, owner: str, resource: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """``(choice, choice_hour)`` arrays of ``owner`` for ``resource``, >= ``rows`` long."""
        choice, hour = self._choices.get((owner, resource), (np.zeros(0, np.int32),) * 2)
        if choice.shape[0] < rows:
            choice, hour = _grow(choice, rows, -1), _grow(hour.astype(np.int64), rows, -1)
            self._choices[owner, resource] = (choice, hour)
        return choice, hour

    def observe(
        self, resource: str, rows: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> None:
        is_oom = resource == OOM
        if is_oom:
            resource, values = MEMORY, self._bumped(rows, values)
        if resource not in self.peak or len(rows) == 0:
            return
        hours = np.floor(times / HOUR_S).astype(np.int64)
        for column in self.ring.advance(hours):
            for table in (self.peak, self.total, self.count):
                for array in table.values():
                    array[:, column] = 0.0
        cols, held = self.ring.columns(hours)
        if not held.all():
            rows, cols, values = rows[held], cols[held], values[held]
        needed = int(rows.max()) + 1 if len(rows) else 0
        for table in (self.peak, self.total, self.count):
            table[resource] = _grow(table[resource], needed, 0.0)
        np.maximum.at(self.peak[resource], (rows, cols), values)
        if not is_oom:
            np.add.at(self.total[resource], (rows, cols), values)
            np.add.at(self.count[resource], (rows, cols), 1.0)
        else:  # an OOM hour counts as observed even if no usage sample survived
            np.maximum.at(self.count[resource], (rows, cols), 1.0)
            np.maximum.at(self.total[resource], (rows, cols), values)

    def observed_hours(self, resource: str, rows: np.ndarray) -> np.ndarray:
        """How many of the kept hours of each row have a sample."""
        cols, held = self.ring.chronological()
        count = _rows(self.count[resource], rows, self.ring.length)[:, cols]
        return ((count > 0) & held[None, :]).sum(axis=1)

    def series(self, resource: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(peaks, means)`` of ``rows``, shape rows x hours, oldest hour first, NaN where
        the hour has no sample."""
        hours = self.ring.length
        cols, held = self.ring.chronological()
        peak, total, count = (
            _rows(t[resource], rows, hours) for t in (self.peak, self.total, self.count)
        )
        peak, total, count = peak[:, cols], total[:, cols], count[:, cols]
        seen = (count > 0) & held[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen, total / np.where(seen, count, 1.0), np.nan)
        return np.where(seen, peak, np.nan), mean


class DailyHistograms(_ModelObserver):
    """Undecayed per-day histograms and maxima for each aggregate, last ``days`` days."""

    SCHEMES: dict[str, BucketScheme] = {CPU: CPU_BUCKETS, MEMORY: MEMORY_BUCKETS, GPU: GPU_BUCKETS}

    def __init__(self, days: int = 14, resources: tuple[str, ...] = WINDOWED_RESOURCES) -> None:
        self.ring = _Ring(days, DAY_S)
        self.days = {
            r: [DecayingHistograms(self.SCHEMES[r], half_life_s=NO_DECAY_HALF_LIFE_S)
                for _ in range(days)]
            for r in resources
        }
        self.maximum = {r: np.zeros((0, days)) for r in resources}

    def observe(
        self, resource: str, rows: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> None:
        is_oom = resource == OOM
        if is_oom:
            resource, values = MEMORY, self._bumped(rows, values)
        if resource not in self.days or len(rows) == 0:
            return
        days = np.floor(times / DAY_S).astype(np.int64)
        for column in self.ring.advance(days):
            for r, hists in self.days.items():
                hists[column].weights[:] = 0.0
                hists[column].total[:] = 0.0
                self.maximum[r][:, column] = 0.0
        cols, held = self.ring.columns(days)
        needed = int(rows.max()) + 1
        self.maximum[resource] = _grow(self.maximum[resource], needed, 0.0)
        np.maximum.at(self.maximum[resource], (rows[held], cols[held]), values[held])
        if is_oom:
            return
        for column in np.unique(cols[held]).tolist():
            pick = held & (cols == column)
            hist = self.days[resource][column]
            hist.grow(needed)
            hist.add(rows[pick], values[pick], times[pick])

    def percentile(self, resource: str, p: float, rows: np.ndarray) -> np.ndarray:
        """The ``p`` percentile of all samples of the ring's days (engine percentile rule)."""
        hists = self.days[resource]
        scheme = hists[0].scheme
        weights = np.zeros((len(rows), scheme.count))
        total = np.zeros(len(rows))
        for hist in hists:
            weights += _rows(hist.weights, rows, scheme.count)
            total += _rows(hist.total[:, None], rows, 1)[:, 0]
        return hists[0].percentiles([p], weights, total)[0]

    def max(self, resource: str, rows: np.ndarray) -> np.ndarray:
        """Largest sample over the ring's days."""
        return _rows(self.maximum[resource], rows, self.ring.length).max(axis=1)


def _rows(array: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    """``array[rows]`` with rows past the end (never observed) as zeros."""
    out = np.zeros((len(rows), width))
    inside = rows < array.shape[0]
    out[inside] = array[rows[inside]]
    return out
