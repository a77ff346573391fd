"""Following the tide in place: hysteresis on decreases and a churn budget per pod.

Increases are applied as soon as the target rises (the recommender's in-place target already
looks ahead). A decrease within bounds waits until the lower target has held for
``lower_after_s``; at most ``max_resizes_per_day`` resizes per pod in any 24 h. Both are
remembered by this updater process only (it needs no write access to pods beyond
``pods/resize``): a restart or a new leader starts the wait afresh, which can only delay a
decrease, and the count afresh, which allows at most one more day's budget.
"""

from __future__ import annotations

DAY_S = 86400.0


class TideMemory:
    """Per pod uid: since when each container resource has wanted a lower value, and the
    times of its in-place resizes."""

    def __init__(self) -> None:
        self._since: dict[tuple[str, str, str], float] = {}
        self._resizes: dict[str, list[float]] = {}

    def held_for(self, key: tuple[str, str, str], lower: bool, now: float) -> float:
        """Seconds the lower value of ``(uid, container, resource)`` has been wanted."""
        if not lower:
            self._since.pop(key, None)
            return 0.0
        return now - self._since.setdefault(key, now)

    def resizes(self, uid: str, now: float) -> list[float]:
        """Times of the pod's resizes in the 24 h before ``now``."""
        return [t for t in self._resizes.get(uid, []) if now - DAY_S < t <= now]

    def record_resize(self, uid: str, now: float) -> None:
        self._resizes[uid] = [*self.resizes(uid, now), now]

    def keep_only(self, uids: set[str]) -> None:
        """Forget pods that are gone."""
        self._since = {k: v for k, v in self._since.items() if k[0] in uids}
        self._resizes = {k: v for k, v in self._resizes.items() if k in uids}
