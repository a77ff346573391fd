"""How much of a workload the updater may disrupt at once, and how fast it may act.

Per controller (the pods' direct owner, as upstream groups them): no update while fewer than
``minReplicas`` pods live; at most ``int(replicas x tolerance)`` pods disrupted at once (one,
when that is zero and every replica runs). A pod that is not Running may always be evicted.
An in-place resize that restarts no container disrupts nothing but still counts while it is
in flight, unless ``in_place_skip_disruption_budget`` is set. Evictions also go through the
Eviction API, so PodDisruptionBudgets hold on top of this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


class TokenBucket:
    """Non-blocking rate limit: :meth:`take` returns False instead of sleeping."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, max(burst, 1), clock
        self._tokens = float(self.burst)
        self._last = clock()

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class GroupBudget:
    """One controller's pods: configured replicas, how many run, how many are disrupted."""

    configured: int
    running: int
    disrupted: int = 0  # already disrupted (not ready, resizing) or disrupted by this loop
    evicted: int = 0

    def tolerance(self, fraction: float) -> int:
        return int(self.configured * fraction)

    def can_disrupt(self, fraction: float, pod_running: bool) -> bool:
        """May one more pod be taken down (evicted, or resized with a restart)?"""
        if not pod_running:
            return True
        tolerance = self.tolerance(fraction)
        if self.running - self.disrupted > self.configured - tolerance:
            return True
        # With too few replicas for any tolerance, one at a time while all of them run.
        return tolerance == 0 and self.disrupted == 0 and self.running >= self.configured

    def record(self, pod_running: bool, evicted: bool) -> None:
        if pod_running:
            self.disrupted += 1
        if evicted:
            self.evicted += 1
