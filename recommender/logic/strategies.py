"""Recommendation strategies: how raw usage becomes target and bounds.

A strategy turns the model's histograms into :class:`Bounds` per history resource (cpu, memory,
gpu, gpu_memory) for a set of aggregate rows, floors included. GPU whole-numbering and policy
capping happen after it, the same for every strategy. Strategies live in a registry object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY
from recommender.logic.estimators import (
    MAX_BYTES,
    MAX_CPU_CORES,
    AmountEstimator,
    Bounds,
    PercentileEstimator,
    apply_floor,
    confidence,
    pod_floor,
)
from recommender.model.state import UsageModel

DAY_S = 86400.0
POD_MIN_CPU_CORES = 0.025
POD_MIN_MEMORY_BYTES = 250 * 2**20


class Strategy(Protocol):
    """Computes bounds for aggregate ``rows``; ``share`` is 1 / containers per pod;
    ``next_hours`` (per row, default none) marks rows whose pods are resized in place, which a
    strategy may size for the coming hours; the others' targets must hold for a pod's life."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def estimate(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray,
        next_hours: np.ndarray | None = None,
    ) -> dict[str, Bounds]: ...


def history_confidence(model: UsageModel, rows: np.ndarray) -> np.ndarray:
    """Confidence in days from CPU samples (upstream); rows without CPU use all samples."""
    has_cpu = model.sample_count[rows] > 0
    first = np.where(has_cpu, model.first_sample[rows], model.any_first[rows])
    last = np.where(has_cpu, model.last_sample[rows], model.any_last[rows])
    count = np.where(has_cpu, model.sample_count[rows], model.any_count[rows])
    span = np.where(count > 0, (last - first) / DAY_S, 0.0)
    return confidence(span, count.astype(np.float64))


def upstream_confidence(model: UsageModel, rows: np.ndarray) -> np.ndarray:
    """Upstream's confidence: from CPU samples only (none: 0, unbounded upper bounds)."""
    count = model.sample_count[rows]
    span = np.where(count > 0, (model.last_sample[rows] - model.first_sample[rows]) / DAY_S, 0.0)
    return confidence(span, count.astype(np.float64))


def has_gpu_history(model: UsageModel, rows: np.ndarray) -> bool:
    """True when any of ``rows`` has GPU or GPU-memory samples."""
    return any(
        hist.rows and hist.total[rows].any()
        for hist in (model.histograms[GPU], model.histograms[GPU_MEMORY])
    )


@dataclass(frozen=True)
class VpaStrategy:
    """Upstream VPA's recommender: p90/p50/p95 + 15%, confidence, pod floors.

    With ``upstream`` (the ``vpa`` strategy) the numbers are upstream's exactly
    (tests/recommender/test_upstream_vpa.py runs upstream's code on the same histories): CPU
    samples in whole millicores, a sample not later than its container's previous one dropped
    (:meth:`prepare`), whole amounts after each step, confidence from CPU samples only. Without
    it (the base of other strategies) the same estimators in plain floats, rounded once, with
    confidence from any samples when a container has no CPU ones.
    """

    name: str = "vpa"
    description: str = "upstream VPA defaults (p90 target, p50/p95 bounds, +15%)"
    upstream: bool = True
    usage: PercentileEstimator = field(default_factory=PercentileEstimator)
    # GPU memory is not compressible and has no OOM feedback: size for the largest peak.
    gpu_memory: PercentileEstimator = field(
        default_factory=lambda: PercentileEstimator(target=1.0, lower=0.9, upper=1.0)
    )
    pod_min_cpu: float = POD_MIN_CPU_CORES
    pod_min_memory: float = POD_MIN_MEMORY_BYTES

    def prepare(self, model: UsageModel) -> None:
        """Upstream's CPU sampling: whole millicores, strictly later samples per container."""
        if self.upstream:
            model.settings.cpu_millicores = True
            model.settings.cpu_strictly_later = True

    def estimate(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray,
        next_hours: np.ndarray | None = None,
    ) -> dict[str, Bounds]:
        """Upstream's bounds; they do not depend on the hour, so ``next_hours`` changes
        nothing."""
        if self.upstream:
            return self._upstream(model, rows, share)
        return self._float(model, rows, share)

    def _upstream(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray
    ) -> dict[str, Bounds]:
        conf = upstream_confidence(model, rows)
        amounts = AmountEstimator(self.usage)
        out = {
            CPU: apply_floor(
                amounts.estimate(model.histograms[CPU], rows, conf, 1000.0),
                pod_floor(self.pod_min_cpu, share, 1000.0),
            ),
            MEMORY: apply_floor(
                amounts.estimate(model.histograms[MEMORY], rows, conf, 1.0),
                pod_floor(self.pod_min_memory, share, 1.0),
            ),
        }
        if has_gpu_history(model, rows):
            out.update(self._gpu(model, rows, conf))
        return out

    def _gpu(self, model: UsageModel, rows: np.ndarray, conf: np.ndarray) -> dict[str, Bounds]:
        return {
            GPU: self.usage.estimate(model.histograms[GPU], rows, conf, MAX_CPU_CORES),
            GPU_MEMORY: self.gpu_memory.estimate(
                model.histograms[GPU_MEMORY], rows, conf, MAX_BYTES
            ),
        }

    def _float(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray
    ) -> dict[str, Bounds]:
        conf = history_confidence(model, rows)
        out = {
            CPU: apply_floor(
                self.usage.estimate(model.histograms[CPU], rows, conf, MAX_CPU_CORES),
                self.pod_min_cpu * share,
            ),
            MEMORY: apply_floor(
                self.usage.estimate(model.histograms[MEMORY], rows, conf, MAX_BYTES),
                self.pod_min_memory * share,
            ),
        }
        if has_gpu_history(model, rows):
            out.update(self._gpu(model, rows, conf))
        return out


def prepare_model(model: UsageModel, strategy: Strategy) -> UsageModel:
    """Let ``strategy`` attach the extra state it keeps (its ``prepare(model)``, if any)
    before the model ingests samples."""
    prepare = getattr(strategy, "prepare", None)
    if prepare is not None:
        prepare(model)
    return model


class StrategyRegistry:
    """Named strategy factories; ``names()`` lists them for CLI help and errors."""

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Strategy]] = {}

    def register(self, name: str, factory: Callable[[], Strategy]) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str) -> Strategy:
        try:
            return self._factories[name]()
        except KeyError:
            valid = ", ".join(self.names())
            raise ValueError(f"unknown strategy {name!r}; valid strategies: {valid}") from None


DEFAULT_STRATEGY = "tidal"
STRATEGIES = StrategyRegistry()
STRATEGIES.register("vpa", VpaStrategy)


def _tidal() -> Strategy:
    from recommender.logic.tidal import TidalStrategy  # imports this module

    return TidalStrategy()


def _percentile() -> Strategy:
    from recommender.logic.percentile import PercentileStrategy  # imports this module

    return PercentileStrategy()


STRATEGIES.register("tidal", _tidal)
STRATEGIES.register("percentile", _percentile)
