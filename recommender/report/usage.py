"""Usage evidence for reports: percentiles from the model's histograms, and, from the raw
samples, how long batch pods run and how busy GPUs are over time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from recommender.history import GPU, Samples
from recommender.model.state import ContainerKey, UsageModel

IDLE_UTILISATION = 0.10  # a GPU sample below 10% of the allocated GPUs counts as idle
SERIES_BIN_S = 3600.0


@dataclass(frozen=True)
class UsageStats:
    """p50/p95 from the model's (decaying) histogram and the largest sample seen."""

    p50: float
    p95: float
    max: float


@dataclass(frozen=True)
class Bucket:
    """One non-empty histogram bucket: ``[start, end)`` holding ``share`` of the weight."""

    start: float
    end: float
    share: float


def usage_stats(model: UsageModel, row: int, resource: str) -> UsageStats | None:
    """Percentiles of a row's histogram for a history resource; None without samples.

    A percentile is its bucket's end (as VPA reads it), up to 5% above the samples in it, and
    memory buckets also hold OOM bumps: shown no higher than the largest sample seen, so that a
    table never says p95 > max."""
    hist = model.histograms[resource]
    if row >= hist.rows or hist.total[row] <= 0:
        return None
    p50, p95 = hist.percentiles([0.5, 0.95], hist.weights[[row]], hist.total[[row]])
    top = float(model.max_usage[resource][row])
    cap = top if top > 0 else float("inf")
    return UsageStats(min(float(p50[0]), cap), min(float(p95[0]), cap), top)


def distribution(model: UsageModel, row: int, resource: str) -> list[Bucket]:
    """The row's histogram as shares of its total weight (non-empty buckets only)."""
    hist = model.histograms[resource]
    if row >= hist.rows or hist.total[row] <= 0:
        return []
    weights = hist.weights[row]
    total = float(weights.sum())
    scheme = hist.scheme
    ends = np.append(scheme.starts[1:], scheme.starts[-1] * scheme.ratio)
    return [
        Bucket(float(scheme.starts[i]), float(ends[i]), float(weights[i] / total))
        for i in np.flatnonzero(weights > total * 1e-6)
    ]


def sample_step(samples: Samples) -> float:
    """The typical interval between sample times (seconds), 60 when unknown."""
    times = np.unique(samples.timestamp)
    if len(times) < 2:
        return 60.0
    return float(np.median(np.diff(times)))


def pod_activity(
    samples: Samples, kinds: tuple[str, ...] = ("CronJob", "Job")
) -> dict[tuple[str, str], float]:
    """Per ``(namespace, workload)`` of ``kinds``: the share of the history window its pods
    ran, counted in pod lifetimes (first to last sample, plus one interval) over the window.
    1.0 means one pod all the time; a nightly two-hour job gives about 0.083."""
    if not len(samples):
        return {}
    step = sample_step(samples)
    window = float(samples.timestamp.max() - samples.timestamp.min()) + step
    prefixes = tuple(f"{kind}/" for kind in kinds)
    wanted = np.fromiter(
        (w.startswith(prefixes) for w in samples.workload), dtype=bool, count=len(samples)
    )
    if not wanted.any():
        return {}
    part = samples.select(wanted)
    pods = part.namespace + "\x1f" + part.workload + "\x1f" + part.pod
    names, inverse = np.unique(pods, return_inverse=True)
    first = np.full(len(names), np.inf)
    last = np.full(len(names), -np.inf)
    np.minimum.at(first, inverse, part.timestamp)
    np.maximum.at(last, inverse, part.timestamp)
    out: dict[tuple[str, str], float] = defaultdict(float)
    for name, lo, hi in zip(names.tolist(), first.tolist(), last.tolist(), strict=True):
        ns, wl, _ = name.split("\x1f")
        out[(ns, wl)] += (hi - lo + step) / window
    return dict(out)


@dataclass(frozen=True)
class GpuActivity:
    """How busy a container's allocated GPUs were, from its samples."""

    duty_cycle: float  # mean busy share of the allocated GPUs
    idle_share: float  # share of samples under IDLE_UTILISATION
    series: list[tuple[float, float]]  # (bin start, mean utilisation) per hour


def gpu_activity(
    samples: Samples, key: ContainerKey, allocated: float, bin_s: float = SERIES_BIN_S
) -> GpuActivity | None:
    """GPU utilisation of ``key``'s pods against ``allocated`` GPUs per pod."""
    mask = (
        (samples.resource == GPU)
        & (samples.namespace == key.namespace)
        & (samples.workload == key.workload)
        & (samples.container == key.container)
    )
    if not mask.any() or allocated <= 0:
        return None
    times = samples.timestamp[mask]
    util = np.clip(samples.value[mask] / allocated, 0.0, 1.0)
    bins = np.floor(times / bin_s) * bin_s
    starts, inverse = np.unique(bins, return_inverse=True)
    means = np.bincount(inverse, weights=util) / np.bincount(inverse)
    return GpuActivity(
        duty_cycle=float(util.mean()),
        idle_share=float((util < IDLE_UTILISATION).mean()),
        series=[(float(t), float(u)) for t, u in zip(starts, means, strict=True)],
    )
