"""Retry with exponential backoff for network sources that must never crash the loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class SourceUnavailable(Exception):
    """A metrics source could not be reached (after retries)."""


@dataclass
class Backoff:
    """Exponential backoff: ``initial_s`` doubling up to ``max_s`` after each failure."""

    initial_s: float = 1.0
    max_s: float = 300.0
    clock: Callable[[], float] = field(default=time.monotonic)
    failures: int = 0
    next_attempt: float = 0.0

    def ready(self) -> bool:
        return self.clock() >= self.next_attempt

    def failed(self) -> float:
        """Record a failure; returns the delay before the next attempt."""
        delay = min(self.initial_s * 2**self.failures, self.max_s)
        self.failures += 1
        self.next_attempt = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.next_attempt = 0, 0.0
