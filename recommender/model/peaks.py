"""One usage peak per pod container per aggregation window (upstream's memory peaks).

A window ends ``window_s`` after the container's first sample, then every ``window_s``. The
window's peak goes into the aggregate histogram with weight 1.0 at the window's END time; a
higher sample in the same window replaces it (subtract the old peak, add the new one).
"""

from __future__ import annotations

import numpy as np

from recommender.model.histograms import DecayingHistograms

WINDOW_S = 24 * 3600.0
PEAK_WEIGHT = 1.0


class WindowPeaks:
    """Per-slot (pod container) window state feeding a :class:`DecayingHistograms`."""

    def __init__(self, histograms: DecayingHistograms, window_s: float = WINDOW_S) -> None:
        self.histograms = histograms
        self.window_s = window_s
        self.window_end = np.zeros(0, dtype=np.float64)  # NaN: no window yet
        self.peak = np.zeros(0, dtype=np.float64)  # peak of the current window (with OOMs)
        self.usage_peak = np.zeros(0, dtype=np.float64)  # same, usage samples only
        self.last_time = np.zeros(0, dtype=np.float64)

    def grow(self, slots: int) -> None:
        old = self.window_end.shape[0]
        if slots <= old:
            return
        capacity = max(slots, 2 * old, 16)

        def extend(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(capacity, fill, dtype=np.float64)
            out[:old] = a
            return out

        self.window_end = extend(self.window_end, np.nan)
        self.peak = extend(self.peak, 0.0)
        self.usage_peak = extend(self.usage_peak, 0.0)
        self.last_time = extend(self.last_time, -np.inf)

    def end_of_window(self, slots: np.ndarray, times: np.ndarray) -> np.ndarray:
        """End of the window each sample falls in (windows anchored per slot)."""
        anchor = self.window_end[slots]
        return anchor + (np.floor((times - anchor) / self.window_s) + 1.0) * self.window_s

    def add(
        self,
        slots: np.ndarray,
        rows: np.ndarray,
        times: np.ndarray,
        values: np.ndarray,
        is_oom: np.ndarray | None = None,
    ) -> int:
        """Add samples (``rows`` = aggregate row of each slot). Returns samples accepted.

        Samples older than the slot's latest sample are dropped, except OOM samples, which
        are dropped only when older than the slot's current window.
        """
        if len(slots) == 0:
            return 0
        is_oom = np.zeros(len(slots), dtype=bool) if is_oom is None else is_oom
        order = np.lexsort((times, slots))
        slots, rows, times, values, is_oom = (
            slots[order], rows[order], times[order], values[order], is_oom[order]
        )
        # New slots: their first sample opens the first window.
        fresh = np.isnan(self.window_end[slots])
        if fresh.any():
            first = np.unique(slots[fresh], return_index=True)
            self.window_end[first[0]] = times[fresh][first[1]]
        ends = self.end_of_window(slots, times)
        current = np.where(fresh, -np.inf, self.window_end[slots])
        ok = np.where(
            is_oom, ends >= current, (times >= self.last_time[slots]) & (ends >= current)
        )
        if not ok.all():
            slots, rows, times, values, is_oom, ends, current = (
                a[ok] for a in (slots, rows, times, values, is_oom, ends, current)
            )
        if len(slots) == 0:
            return 0
        np.maximum.at(self.last_time, slots, np.where(is_oom, -np.inf, times))
        usage = np.where(is_oom, 0.0, values)

        # One group per (slot, window): its maximum.
        boundary = np.ones(len(slots), dtype=bool)
        boundary[1:] = (slots[1:] != slots[:-1]) | (ends[1:] != ends[:-1])
        starts = np.flatnonzero(boundary)
        g_slot, g_row, g_end = slots[starts], rows[starts], ends[starts]
        g_max = np.maximum.reduceat(values, starts)
        g_usage = np.maximum.reduceat(usage, starts)
        g_current = current[starts]

        same = (g_end == g_current) & (g_end == self.window_end[g_slot])
        old_peak = np.where(same, self.peak[g_slot], 0.0)
        replace = same & (g_max > old_peak) & (old_peak > 0)
        new = ~same | (old_peak <= 0)
        add = new | replace
        self.histograms.subtract(
            g_row[replace], old_peak[replace], g_end[replace], PEAK_WEIGHT
        )
        self.histograms.add(g_row[add], g_max[add], g_end[add], PEAK_WEIGHT)

        # The last group of each slot is its current window now.
        last = np.ones(len(g_slot), dtype=bool)
        last[:-1] = g_slot[1:] != g_slot[:-1]
        s = g_slot[last]
        keep = same[last]
        self.peak[s] = np.where(keep, np.maximum(self.peak[s], g_max[last]), g_max[last])
        self.usage_peak[s] = np.where(
            keep, np.maximum(self.usage_peak[s], g_usage[last]), g_usage[last]
        )
        self.window_end[s] = g_end[last]
        return int(len(slots))

    def usage_peak_at(self, slot: int, time: float) -> float:
        """The slot's usage peak (no OOMs) if ``time`` falls in its current window, else 0."""
        end = self.window_end[slot]
        if np.isnan(end) or not (end - self.window_s <= time < end):
            return 0.0
        return float(self.usage_peak[slot])
