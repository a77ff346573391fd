"""Estimators composed as upstream does: percentile -> margin -> confidence -> floor.

Pure numpy over arrays of aggregates; nothing here knows about Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.model.histograms import DecayingHistograms

SAMPLES_PER_DAY = 60 * 24  # upstream counts one CPU sample a minute as a day's worth
MAX_CPU_CORES = 1e11  # upstream caps amounts at 1e14 milli-units: 100G cores
MAX_BYTES = 1e14  # and 1e14 bytes: 100T


@dataclass(frozen=True)
class Bounds:
    """Target, lower and upper bound arrays (one entry per aggregate row)."""

    target: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def map(self, fn) -> Bounds:  # type: ignore[no-untyped-def]
        return Bounds(fn(self.target), fn(self.lower), fn(self.upper))


@dataclass(frozen=True)
class PercentileEstimator:
    """Upstream VPA defaults: p90 target, p50 lower, p95 upper, +15% margin,
    confidence scaling ``upper x (1 + 1/c)``, ``lower x (1 + 0.001/c)^-2``."""

    target: float = 0.9
    lower: float = 0.5
    upper: float = 0.95
    margin: float = 0.15
    upper_confidence: tuple[float, float] = (1.0, 1.0)  # (multiplier, exponent)
    lower_confidence: tuple[float, float] = (0.001, -2.0)

    def estimate(
        self, hist: DecayingHistograms, rows: np.ndarray, confidence: np.ndarray, cap: float
    ) -> Bounds:
        index = row_index(rows)
        target, lower, upper = hist.percentiles(
            [self.target, self.lower, self.upper], hist.weights[index], hist.total[index]
        )
        scale = 1.0 + self.margin
        return Bounds(
            target * scale,
            confidence_multiplier(lower * scale, confidence, *self.lower_confidence, cap),
            confidence_multiplier(upper * scale, confidence, *self.upper_confidence, cap),
        )


def row_index(rows: np.ndarray) -> np.ndarray | slice:
    """``rows`` as a slice when they are ``0..n-1`` (a view instead of a 1 KB-a-row copy)."""
    n = len(rows)
    if n and rows[0] == 0 and rows[-1] == n - 1 and bool((np.diff(rows) == 1).all()):
        return slice(0, n)
    return rows


def confidence(span_days: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Upstream's confidence in days: ``min(history span in days, samples / 1440)``."""
    return np.minimum(span_days, samples / SAMPLES_PER_DAY)


def confidence_multiplier(
    values: np.ndarray, conf: np.ndarray, multiplier: float, exponent: float, cap: float
) -> np.ndarray:
    """``values x (1 + multiplier / conf) ** exponent``, capped (no history: the cap)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = np.power(1.0 + multiplier / conf, exponent)
        scaled = values * factor
    scaled = np.where(np.isnan(scaled), np.where(exponent > 0, cap, 0.0), scaled)
    return np.minimum(scaled, cap)


def apply_floor(bounds: Bounds, floor: np.ndarray | float) -> Bounds:
    """Raise target and bounds to at least ``floor`` (upstream's pod minimum share)."""
    return bounds.map(lambda a: np.maximum(a, floor))
