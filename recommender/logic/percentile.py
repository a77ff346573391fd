"""The ``percentile`` strategy, after KRR's "simple" strategy: CPU p95 of the last 14 days'
samples, memory the largest sample of the last 14 days + 15%, no decay, no confidence.

Its window lives in :class:`~recommender.model.windows.DailyHistograms`; a model built without
:meth:`PercentileStrategy.prepare` falls back to the decayed CPU histogram and the all-time
memory maximum. Bounds equal the target; GPUs are sized as ``vpa`` sizes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.history import CPU, MEMORY
from recommender.logic.estimators import Bounds, apply_floor
from recommender.logic.strategies import VpaStrategy
from recommender.model.state import UsageModel
from recommender.model.windows import DailyHistograms

WINDOW_DAYS = 14
CPU_PERCENTILE = 0.95
MEMORY_MARGIN = 0.15


@dataclass(frozen=True)
class PercentileStrategy:
    """CPU p95 over ``window_days``; memory max over ``window_days`` x (1 + margin)."""

    name: str = "percentile"
    description: str = "KRR-like: cpu p95 over 14 days, memory max + 15%"
    window_days: int = WINDOW_DAYS
    cpu_percentile: float = CPU_PERCENTILE
    memory_margin: float = MEMORY_MARGIN
    base: VpaStrategy = field(
        default_factory=lambda: VpaStrategy(name="percentile", upstream=False)
    )

    def prepare(self, model: UsageModel) -> None:
        if DailyHistograms.of(model) is None:
            DailyHistograms(self.window_days, (CPU, MEMORY)).attach(model)

    def estimate(
        self, model: UsageModel, rows: np.ndarray, share: np.ndarray,
        next_hours: np.ndarray | None = None,
    ) -> dict[str, Bounds]:
        """Windowed percentile and maximum: the same at any hour (``next_hours`` ignored)."""
        out = self.base.estimate(model, rows, share)
        window = DailyHistograms.of(model)
        if window is None:
            cpu = model.histograms[CPU].percentile(self.cpu_percentile, rows)
            memory = model.max_usage[MEMORY][rows]
        else:
            cpu = window.percentile(CPU, self.cpu_percentile, rows)
            memory = window.max(MEMORY, rows)
        for resource, value, floor in (
            (CPU, cpu, self.base.pod_min_cpu),
            (MEMORY, memory * (1.0 + self.memory_margin), self.base.pod_min_memory),
        ):
            out[resource] = apply_floor(Bounds(value, value, value), floor * share)
        return out
