"""The recommender's state: per-aggregate histograms fed by batches of samples.

An aggregate is (namespace, workload, container), as upstream aggregates the containers of one
workload's pods. A slot is one pod's container: memory-like peaks are tracked per slot.

The OOM bump and the memory aggregation interval and count are per aggregate: the model's
settings, overridden per workload and container by :meth:`UsageModel.configure` (AEP-8026's
per-VPA fields; a VPA targets one workload, so its policies become its rows' parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, OOM, Samples
from recommender.model.buckets import CPU_BUCKETS, GPU_BUCKETS, GPU_MEMORY_BUCKETS, MEMORY_BUCKETS
from recommender.model.histograms import HALF_LIFE_S, DecayingHistograms
from recommender.model.peaks import WINDOW_S, WindowPeaks

USAGE_SAMPLE_WEIGHT = 0.1  # upstream's CPU sample weight (times decay)
OOM_MIN_BUMP_BYTES = 100 * 2**20
OOM_BUMP_RATIO = 1.2
MEMORY_WINDOW_COUNT = 8  # upstream's --memory-aggregation-interval-count
USAGE_RESOURCES = (CPU, GPU)  # every sample counts
PEAK_RESOURCES = (MEMORY, GPU_MEMORY)  # one peak per pod container per window
LAZY_RESOURCES = (GPU, GPU_MEMORY)  # histograms allocated at the first sample: most have none

# Called with (resource, aggregate rows, times, values) for every accepted batch (OOMs too):
# lets a strategy keep extra state (e.g. the tidal strategy's hourly peaks) beside the model.
Observer = Callable[[str, np.ndarray, np.ndarray, np.ndarray], None]


class ContainerKey(NamedTuple):
    """An aggregate: the containers of one name across a workload's pods."""

    namespace: str
    workload: str
    container: str


@dataclass
class ModelSettings:
    """Tunables of the state (upstream defaults)."""

    half_life_s: float = HALF_LIFE_S
    memory_window_s: float = WINDOW_S
    # An aggregate with no sample for memory_window_s x memory_window_count is forgotten.
    memory_window_count: int = MEMORY_WINDOW_COUNT
    oom_min_bump_bytes: float = OOM_MIN_BUMP_BYTES
    oom_bump_ratio: float = OOM_BUMP_RATIO
    # Upstream's CPU sampling (the vpa strategy turns these on, see VpaStrategy.prepare):
    cpu_millicores: bool = False  # truncate CPU samples to whole millicores before bucketing
    cpu_strictly_later: bool = False  # drop a CPU sample not later than its container's last


@dataclass(frozen=True)
class MemoryOverrides:
    """One aggregate's memory parameters (AEP-8026); None keeps the model's setting."""

    oom_bump_ratio: float | None = None
    oom_min_bump_bytes: float | None = None
    interval_s: float | None = None
    interval_count: int | None = None


# (namespace, workload) -> container name, or "*" for the others -> overrides
Overrides = Mapping[tuple[str, str], Mapping[str, MemoryOverrides]]


@dataclass
class IngestStats:
    accepted: int = 0
    dropped: int = 0
    by_resource: dict[str, int] = field(default_factory=dict)


def memory_in_time_order(
    times: np.ndarray, memory: np.ndarray, ooms: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """Memory samples and OOM kills (indices into ``times``) as chunks to ingest in turn:
    the memory samples up to each OOM's time (equal times first), then the OOMs of that
    time, as upstream sees them. Peaks and OOM bumps depend on that order."""
    if not len(ooms) or not len(memory):
        return [(MEMORY, memory), (OOM, ooms)]
    memory = memory[np.argsort(times[memory], kind="stable")]
    ooms = ooms[np.argsort(times[ooms], kind="stable")]
    oom_times = times[ooms]
    starts = np.flatnonzero(np.r_[True, oom_times[1:] != oom_times[:-1]])
    cuts = np.searchsorted(times[memory], oom_times[starts], side="right")
    parts: list[tuple[str, np.ndarray]] = []
    done = 0
    for start, end, cut in zip(starts, np.r_[starts[1:], len(ooms)], cuts, strict=True):
        parts += [(MEMORY, memory[done:cut]), (OOM, ooms[start:end])]
        done = cut
    parts.append((MEMORY, memory[done:]))
    return parts


class UsageModel:
    """Histograms and evidence for every aggregate, updated in vectorised batches."""

    def __init__(self, settings: ModelSettings | None = None) -> None:
        self.settings = settings or ModelSettings()
        hl = self.settings.half_life_s
        self.keys: list[ContainerKey] = []
        self._index: dict[ContainerKey, int] = {}
        self._slots: dict[tuple[str, str, str, str], int] = {}
        self.slot_row = np.zeros(0, dtype=np.intp)
        self.last_cpu = np.zeros(0)  # per slot: time of the latest CPU sample accepted
        self.histograms = {
            CPU: DecayingHistograms(CPU_BUCKETS, half_life_s=hl),
            MEMORY: DecayingHistograms(MEMORY_BUCKETS, half_life_s=hl),
            GPU: DecayingHistograms(GPU_BUCKETS, half_life_s=hl),
            GPU_MEMORY: DecayingHistograms(GPU_MEMORY_BUCKETS, half_life_s=hl),
        }
        window = self.settings.memory_window_s
        self.peaks = {r: WindowPeaks(self.histograms[r], window) for r in PEAK_RESOURCES}
        # Evidence per aggregate. Confidence uses CPU samples, as upstream; `any_*` all samples.
        self.first_sample = np.zeros(0)
        self.last_sample = np.zeros(0)
        self.sample_count = np.zeros(0)  # in one-minute samples (see ingest)
        self.any_first = np.zeros(0)
        self.any_last = np.zeros(0)
        self.any_count = np.zeros(0)
        self.max_usage = {r: np.zeros(0) for r in (CPU, MEMORY, GPU, GPU_MEMORY)}
        self.oom_count = np.zeros(0, dtype=np.int64)
        self.last_oom = np.zeros(0)
        # Per aggregate (see configure): OOM bump, memory window length and count.
        self.oom_ratio = np.zeros(0)
        self.oom_min_bump = np.zeros(0)
        self.window_s = np.zeros(0)
        self.window_count = np.zeros(0)
        self._overrides: dict[tuple[str, str], dict[str, MemoryOverrides]] = {}
        self.observers: list[Observer] = []

    # -- keys ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: ContainerKey) -> int:
        """Row of an aggregate, created on first use."""
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.keys)
            self.keys.append(key)
            self._grow_rows(len(self.keys))
            self._configure_row(index, key)
        return index

    # -- per-aggregate parameters -------------------------------------------------------
    def configure(self, overrides: Overrides) -> None:
        """Set per-aggregate parameters: ``overrides[(namespace, workload)][container or
        "*"]`` (exact name first, as a VPA's container policies). Aggregates not listed, and
        fields left None, take the settings. Rows created later are configured on creation."""
        new = {k: dict(v) for k, v in overrides.items() if v}
        if new == self._overrides:
            return
        changed = {k for k in set(new) | set(self._overrides)
                   if new.get(k) != self._overrides.get(k)}  # fmt: skip
        self._overrides = new
        for row, key in enumerate(self.keys):
            if (key.namespace, key.workload) in changed:
                self._configure_row(row, key)

    def _configure_row(self, row: int, key: ContainerKey) -> None:
        table = self._overrides.get((key.namespace, key.workload)) or {}
        o = table.get(key.container) or table.get("*") or MemoryOverrides()
        s = self.settings

        def pick(value: float | None, default: float) -> float:
            return default if value is None else value

        self.oom_ratio[row] = pick(o.oom_bump_ratio, s.oom_bump_ratio)
        self.oom_min_bump[row] = pick(o.oom_min_bump_bytes, s.oom_min_bump_bytes)
        self.window_s[row] = pick(o.interval_s, s.memory_window_s)
        self.window_count[row] = pick(o.interval_count, s.memory_window_count)

    def oom_bump(self, rows: np.ndarray, used: np.ndarray) -> np.ndarray:
        """The memory sample an OOM kill in each row stands for: max(used + the row's min
        bump, used x its ratio)."""
        return np.maximum(used + self.oom_min_bump[rows], used * self.oom_ratio[rows])

    def expire(self, now: float) -> int:
        """Forget aggregates with no sample for their memory window x count (upstream drops
        such an aggregate): their histograms and evidence are emptied, so they get no
        recommendation until samples come again. Returns how many were forgotten."""
        n = len(self.keys)
        length = self.window_s[:n] * self.window_count[:n]
        gone = np.flatnonzero((self.any_count[:n] > 0) & (now - self.any_last[:n] >= length))
        if not len(gone):
            return 0
        for hist in self.histograms.values():
            if hist.rows:
                hist.weights[gone] = 0.0
                hist.total[gone] = 0.0
        for array, empty in ((self.first_sample, np.inf), (self.last_sample, -np.inf),
                             (self.sample_count, 0.0), (self.any_first, np.inf),
                             (self.any_last, -np.inf), (self.any_count, 0.0),
                             (self.last_oom, -np.inf), *((a, 0.0) for a in
                                                         self.max_usage.values())):  # fmt: skip
            array[gone] = empty
        self.oom_count[gone] = 0
        return int(len(gone))

    def find(self, key: ContainerKey) -> int | None:
        return self._index.get(key)

    def slot(self, namespace: str, workload: str, pod: str, container: str) -> int:
        """Slot of a pod container, created on first use."""
        key = (namespace, workload, pod, container)
        index = self._slots.get(key)
        if index is None:
            index = self._slots[key] = len(self._slots)
            row = self.row(ContainerKey(namespace, workload, container))
            if index >= self.slot_row.shape[0]:
                grown = np.zeros(max(index + 1, 2 * self.slot_row.shape[0], 16), dtype=np.intp)
                grown[: self.slot_row.shape[0]] = self.slot_row
                last_cpu = np.full(grown.shape[0], -np.inf)
                last_cpu[: self.last_cpu.shape[0]] = self.last_cpu
                self.slot_row, self.last_cpu = grown, last_cpu
                for peaks in self.peaks.values():
                    peaks.grow(grown.shape[0])
            self.slot_row[index] = row
        return index

    def _grow_rows(self, rows: int) -> None:
        old = self.first_sample.shape[0]
        if rows <= old:
            return
        capacity = max(rows, 2 * old, 16)
        for resource, hist in self.histograms.items():
            if resource not in LAZY_RESOURCES or hist.rows:
                hist.grow(capacity)

        def extend(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(capacity, fill, dtype=a.dtype)
            out[:old] = a
            return out

        self.first_sample = extend(self.first_sample, np.inf)
        self.last_sample = extend(self.last_sample, -np.inf)
        self.sample_count = extend(self.sample_count, 0)
        self.any_first = extend(self.any_first, np.inf)
        self.any_last = extend(self.any_last, -np.inf)
        self.any_count = extend(self.any_count, 0)
        self.max_usage = {r: extend(a, 0.0) for r, a in self.max_usage.items()}
        self.oom_count = extend(self.oom_count, 0)
        self.last_oom = extend(self.last_oom, -np.inf)
        self.oom_ratio = extend(self.oom_ratio, self.settings.oom_bump_ratio)
        self.oom_min_bump = extend(self.oom_min_bump, self.settings.oom_min_bump_bytes)
        self.window_s = extend(self.window_s, self.settings.memory_window_s)
        self.window_count = extend(self.window_count, self.settings.memory_window_count)

    def slots_of(self, samples: Samples) -> np.ndarray:
        """Slot index of every sample (creating slots as needed)."""
        cache: dict[tuple[str, str, str, str], int] = {}
        out = np.empty(len(samples), dtype=np.intp)
        for i, key in enumerate(
            zip(samples.namespace, samples.workload, samples.pod, samples.container, strict=True)
        ):
            index = cache.get(key)
            if index is None:
                index = cache[key] = self.slot(*key)
            out[i] = index
        return out

    # -- ingest -------------------------------------------------------------------------
    def ingest(self, samples: Samples, minutes_per_sample: float = 1.0) -> IngestStats:
        """Add a batch of samples of any resources (any order).

        ``minutes_per_sample`` is how much time each sample stands for: 60 for hourly history
        from Prometheus. A usage sample then weighs, and counts towards confidence, as that
        many one-minute samples (upstream counts every sample as one minute, so a bootstrap at
        1 h resolution keeps its bounds wide for days).
        """
        stats = IngestStats()
        if not len(samples):
            return stats
        slots = self.slots_of(samples)
        parts = [(r, np.flatnonzero(samples.resource == r)) for r in (CPU, GPU, GPU_MEMORY)]
        parts += memory_in_time_order(
            samples.timestamp, np.flatnonzero(samples.resource == MEMORY),
            np.flatnonzero(samples.resource == OOM),
        )
        for resource, index in parts:
            if not len(index):
                continue
            accepted = self.ingest_arrays(
                resource, slots[index], samples.timestamp[index], samples.value[index],
                minutes_per_sample,
            )
            stats.by_resource[resource] = stats.by_resource.get(resource, 0) + accepted
            stats.accepted += accepted
            stats.dropped += len(index) - accepted
        return stats

    def ingest_arrays(
        self,
        resource: str,
        slots: np.ndarray,
        times: np.ndarray,
        values: np.ndarray,
        minutes_per_sample: float = 1.0,
    ) -> int:
        """Hot path: samples of one resource for known slots. Returns samples accepted."""
        valid = np.isfinite(values) & (values >= 0) & np.isfinite(times)
        if not valid.all():
            slots, times, values = slots[valid], times[valid], values[valid]
        if len(slots) == 0:
            return 0
        rows = self.slot_row[slots]
        if resource == CPU:
            slots, rows, times, values = self._upstream_cpu(slots, rows, times, values)
            if len(slots) == 0:
                return 0
        if resource in LAZY_RESOURCES and not self.histograms[resource].rows:
            self.histograms[resource].grow(self.first_sample.shape[0])
        for observe in self.observers:
            observe(resource, rows, times, values)
        if resource == OOM:
            return self._record_ooms(slots, rows, times, values)
        if resource in USAGE_RESOURCES:
            weight = USAGE_SAMPLE_WEIGHT * minutes_per_sample
            self.histograms[resource].add(rows, values, times, weight)
            accepted = len(rows)
        else:
            accepted = self.peaks[resource].add(slots, rows, times, values,
                                                window_s=self._windows(resource, rows))
        np.maximum.at(self.max_usage[resource], rows, values)
        self._evidence(resource, rows, times, minutes_per_sample)
        return accepted

    def _upstream_cpu(
        self, slots: np.ndarray, rows: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """CPU samples as upstream's ContainerState takes them (per the settings): values in
        whole millicores; per pod container, in time order, only samples later than the one
        before (the first of equal timestamps wins)."""
        if self.settings.cpu_millicores:
            values = np.trunc(np.minimum(values * 1000.0, 1e14)) / 1000.0
        if not self.settings.cpu_strictly_later:
            return slots, rows, times, values
        order = np.lexsort((times, slots))  # stable: by slot, then time, then arrival
        s, t = slots[order], times[order]
        previous = np.empty_like(t)
        previous[0] = -np.inf
        previous[1:] = np.where(s[1:] == s[:-1], t[:-1], -np.inf)
        keep = np.zeros(len(order), dtype=bool)
        keep[order] = (t > previous) & (t > self.last_cpu[s])
        np.maximum.at(self.last_cpu, slots[keep], times[keep])
        return slots[keep], rows[keep], times[keep], values[keep]

    def _evidence(
        self, resource: str, rows: np.ndarray, times: np.ndarray, minutes_per_sample: float
    ) -> None:
        counts = np.bincount(rows, minlength=self.any_count.shape[0]) * minutes_per_sample
        if resource == CPU:
            np.minimum.at(self.first_sample, rows, times)
            np.maximum.at(self.last_sample, rows, times)
            self.sample_count += counts
        np.minimum.at(self.any_first, rows, times)
        np.maximum.at(self.any_last, rows, times)
        self.any_count += counts

    def _record_ooms(
        self, slots: np.ndarray, rows: np.ndarray, times: np.ndarray, used: np.ndarray
    ) -> int:
        """OOM kills, as upstream's ``RecordOOM``: memory used = max(value at the kill, the
        usage peak of the container's current window, even when the kill opens the next);
        a sample of max(used + min bump, used x ratio) goes into the memory peaks."""
        peaks = self.peaks[MEMORY]
        bumped = self.oom_bump(rows, np.maximum(used, peaks.usage_peak[slots]))
        accepted = peaks.add(slots, rows, times, bumped, np.ones(len(slots), dtype=bool),
                             self._windows(MEMORY, rows))
        np.add.at(self.oom_count, rows, 1)
        np.maximum.at(self.last_oom, rows, times)
        return accepted

    def _windows(self, resource: str, rows: np.ndarray) -> np.ndarray | None:
        """Memory windows per sample when any aggregate has its own (GPU memory: shared)."""
        return self.window_s[rows] if resource == MEMORY and self._overrides else None

    def forget_idle_slots(self, before: float) -> int:
        """Drop pod containers with no sample since ``before`` whose windows have closed
        (pods long gone: CronJob runs, rollouts). Aggregates and histograms are untouched, so
        recommendations do not change; returns how many were dropped."""
        n = len(self._slots)
        if not n:
            return 0
        idle = np.ones(n, dtype=bool)
        for peaks in self.peaks.values():
            idle &= peaks.idle(before, n)
        if not idle.any():
            return 0
        keep = ~idle
        for peaks in self.peaks.values():
            peaks.compact(keep)
        self.slot_row = self.slot_row[:n][keep].copy()
        self.last_cpu = self.last_cpu[:n][keep].copy()
        renumber = np.cumsum(keep) - 1
        self._slots = {
            key: int(renumber[index]) for key, index in self._slots.items() if keep[index]
        }
        return int(idle.sum())

    # -- views --------------------------------------------------------------------------
    def rows_with_history(self) -> np.ndarray:
        n = len(self.keys)
        return np.flatnonzero(self.any_count[:n] > 0)

    def state_bytes_per_aggregate(self, resources: tuple[str, ...] = (CPU, MEMORY)) -> float:
        """Bytes of state per aggregate for ``resources`` (histograms, evidence, slots)."""
        per_row = sum(self.histograms[r].state_bytes() for r in resources)
        per_row += 8 * 8  # evidence arrays
        slots = max(len(self._slots), 1)
        per_slot = 8 + 4 * 8 * sum(1 for r in resources if r in self.peaks)
        return per_row + per_slot * slots / max(len(self.keys), 1)
