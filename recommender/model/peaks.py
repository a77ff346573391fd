"""One usage peak per pod container per aggregation window (upstream's memory peaks).

A window ends ``window_s`` after the container's first sample, then every ``window_s``
(the length may differ per aggregate, AEP-8026's ``memoryAggregationIntervalSeconds``: a new
length applies from the current window's end, as upstream shifts its windows). The
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
        # Upstream's memoryPeak: the usage sample that last raised the window's peak.
        self.usage_peak = np.zeros(0, dtype=np.float64)
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

    def end_of_window(
        self, slots: np.ndarray, times: np.ndarray, window_s: float | np.ndarray | None = None
    ) -> np.ndarray:
        """End of the window each sample falls in (windows anchored per slot)."""
        w = self.window_s if window_s is None else window_s
        anchor = self.window_end[slots]
        return anchor + (np.floor((times - anchor) / w) + 1.0) * w

    def add(
        self,
        slots: np.ndarray,
        rows: np.ndarray,
        times: np.ndarray,
        values: np.ndarray,
        is_oom: np.ndarray | None = None,
        window_s: np.ndarray | None = None,
    ) -> int:
        """Add samples (``rows`` = aggregate row of each slot), in any order. Returns samples
        accepted. ``window_s``: each sample's window length (its aggregate's), default the
        shared one.

        Samples older than the slot's latest sample (OOMs included) are dropped; OOM samples
        only when older than that by more than a window, and an OOM before the current window
        counts in it (upstream's ``addMemorySample``).
        """
        if len(slots) == 0:
            return 0
        is_oom = np.zeros(len(slots), dtype=bool) if is_oom is None else is_oom
        n_slots = self.window_end.shape[0]
        had_window = ~np.isnan(self.window_end)
        fresh = ~had_window[slots]
        w: float | np.ndarray = self.window_s if window_s is None else window_s
        if fresh.any():  # a new slot's first sample opens its first window
            anchor = np.full(n_slots, np.inf)
            np.minimum.at(anchor, slots[fresh], times[fresh])
            opened = np.flatnonzero(np.isfinite(anchor))
            self.window_end[opened] = anchor[opened] + self._per_slot(slots, w, opened)
        base = self.window_end[slots]  # the current window's end
        # An OOM before the current window counts in it (upstream), unless older than the
        # container's latest memory sample by more than a window.
        ends = np.where(is_oom, np.fmax(self.end_of_window(slots, times, w), base),
                        self.end_of_window(slots, times, w))
        last = self.last_time[slots]
        ok = np.where(is_oom, times >= last - w, (ends >= base) & (times >= last))
        if not ok.all():
            slots, rows, times, values, is_oom, ends, base = (
                a[ok] for a in (slots, rows, times, values, is_oom, ends, base)
            )
            if not np.isscalar(w):
                w = np.asarray(w)[ok]
        if len(slots) == 0:
            return 0
        np.maximum.at(self.last_time, slots, times)

        # One group per (slot, window offset from the current one): its maximum.
        offset = np.rint((ends - base) / w).astype(np.intp)
        width = int(offset.max()) + 1
        key = slots * width + offset
        g_max = np.full(n_slots * width, -np.inf)
        np.maximum.at(g_max, key, values)
        if is_oom.any():  # the usage peak leaves OOM bumps out
            g_usage = np.zeros(n_slots * width)
            np.maximum.at(g_usage, key, np.where(is_oom, 0.0, values))
        else:
            g_usage = g_max
        groups = np.flatnonzero(g_max > -np.inf)
        g_slot, g_offset = np.divmod(groups, width)
        g_max, g_usage = g_max[groups], g_usage[groups]
        g_row = self.slot_rows(slots, rows, g_slot)
        g_end = self.window_end[g_slot] + g_offset * self._per_slot(slots, w, g_slot)

        old_peak = np.where((g_offset == 0) & had_window[g_slot], self.peak[g_slot], 0.0)
        replace = (old_peak > 0) & (g_max > old_peak)
        add = (old_peak <= 0) | replace
        self.histograms.subtract(g_row[replace], old_peak[replace], g_end[replace], PEAK_WEIGHT)
        self.histograms.add(g_row[add], g_max[add], g_end[add], PEAK_WEIGHT)

        # Each slot's latest group is its current window now.
        latest = np.ones(len(g_slot), dtype=bool)
        latest[:-1] = g_slot[1:] != g_slot[:-1]
        s, moved = g_slot[latest], g_offset[latest] > 0
        keep = ~moved & had_window[s]
        before = self.peak[s]
        self.peak[s] = np.where(keep, np.maximum(before, g_max[latest]), g_max[latest])
        # Upstream's usage peak moves only with a sample above the window's peak (OOMs in it).
        raised = g_usage[latest] > before
        self.usage_peak[s] = np.where(
            keep, np.where(raised, g_usage[latest], self.usage_peak[s]), g_usage[latest]
        )
        self.window_end[s] = g_end[latest]
        return int(len(slots))

    def compact(self, keep: np.ndarray) -> None:
        """Keep only the slots where ``keep`` (bool, one per slot in use) is true, renumbered
        in order."""
        n = keep.shape[0]
        for name in ("window_end", "peak", "usage_peak", "last_time"):
            setattr(self, name, getattr(self, name)[:n][keep].copy())

    def idle(self, before: float, slots: int) -> np.ndarray:
        """Slots (of the first ``slots``) with no sample since ``before`` and whose window has
        closed: their peaks are in the histogram, nothing of theirs can change any more."""
        closed = ~(self.window_end[:slots] > before)  # NaN (never used) counts as closed
        return closed & ~(self.last_time[:slots] >= before)

    @staticmethod
    def _per_slot(
        slots: np.ndarray, window_s: float | np.ndarray, wanted: np.ndarray
    ) -> float | np.ndarray:
        """The window length of each ``wanted`` slot (all samples of a slot share one)."""
        if np.isscalar(window_s):
            return window_s  # type: ignore[return-value]
        lookup = np.zeros(int(slots.max()) + 1)
        lookup[slots] = window_s
        return lookup[wanted]

    @staticmethod
    def slot_rows(slots: np.ndarray, rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """Aggregate row of each ``wanted`` slot, from the (slot, row) pairs of a batch."""
        lookup = np.zeros(int(slots.max()) + 1, dtype=np.intp)
        lookup[slots] = rows
        return lookup[wanted]

