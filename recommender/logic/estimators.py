"""Estimators composed as upstream does: percentile -> margin -> confidence -> floor.

Pure numpy over arrays of aggregates; nothing here knows about Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.model.histograms import DecayingHistograms

SAMPLES_PER_DAY = 60 * 24  # upstream counts one CPU sample a minute as a day's worth
MAX_AMOUNT = 1e14  # upstream's largest ResourceAmount (whole millicores or bytes)
MAX_CPU_CORES = MAX_AMOUNT / 1000  # 100G cores
MAX_BYTES = MAX_AMOUNT  # 100T


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


@dataclass(frozen=True)
class AmountEstimator:
    """:class:`PercentileEstimator`'s steps in upstream's arithmetic: each step's result is
    a whole ``ResourceAmount`` (millicores, bytes: ``unit`` per base unit), truncated and
    capped at 1e14 as upstream's ``resourceAmountFromFloat`` does, and the confidence factor
    is computed as Go's ``math.Pow`` computes it for whole exponents."""

    base: PercentileEstimator = field(default_factory=PercentileEstimator)

    def estimate(
        self, hist: DecayingHistograms, rows: np.ndarray, confidence: np.ndarray, unit: float
    ) -> Bounds:
        """Bounds in base units (cores, bytes), each a whole number of amounts."""
        est = self.base
        index = row_index(rows)
        raw = hist.percentiles(
            [est.target, est.lower, est.upper], hist.weights[index], hist.total[index]
        )
        target, lower, upper = (amount(p * unit) for p in raw)

        def margin(a: np.ndarray) -> np.ndarray:
            return a + amount(a * est.margin)

        target, lower, upper = margin(target), margin(lower), margin(upper)
        with np.errstate(invalid="ignore"):  # 0 x inf (no history): NaN, then 0
            lower = amount(lower * go_confidence_factor(confidence, *est.lower_confidence))
            upper = amount(upper * go_confidence_factor(confidence, *est.upper_confidence))
        return Bounds(target / unit, lower / unit, upper / unit)


def amount(values: np.ndarray | float) -> np.ndarray:
    """Upstream's ``resourceAmountFromFloat``: capped at 1e14, negative -> 0, truncated to a
    whole amount. NaN (0 x an unbounded factor) becomes 0: upstream's floor then applies."""
    with np.errstate(invalid="ignore"):
        out = np.trunc(np.clip(values, 0.0, MAX_AMOUNT))
    return np.nan_to_num(out, nan=0.0)


def go_confidence_factor(conf: np.ndarray, multiplier: float, exponent: float) -> np.ndarray:
    """``(1 + multiplier / conf) ** exponent`` as Go's ``math.Pow`` rounds it (a whole
    exponent: repeated squaring, then one reciprocal); ``conf`` 0 gives inf or 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        base = 1.0 + multiplier / conf
        n = abs(int(exponent))
        if n != abs(exponent):
            return np.power(base, exponent)
        result = np.ones_like(base)
        square = base
        while n:
            if n & 1:
                result = result * square
            square = square * square
            n >>= 1
        return 1.0 / result if exponent < 0 else result


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


def pod_floor(pod_minimum: float, share: np.ndarray, unit: float) -> np.ndarray:
    """Upstream's per-container floor: the pod minimum as a whole amount, scaled by the
    container's share of the pod and truncated again (base units)."""
    return amount(amount(pod_minimum * unit) * share) / unit


def apply_floor(bounds: Bounds, floor: np.ndarray | float) -> Bounds:
    """Raise target and bounds to at least ``floor`` (upstream's pod minimum share)."""
    return bounds.map(lambda a: np.maximum(a, floor))
