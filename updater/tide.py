"""Following the tide in place: hysteresis on decreases and a churn budget per pod.

Increases are applied as soon as the target rises (the recommender's in-place target already
looks ahead). A decrease waits until the lower target has held for ``lower_after_s`` as seen
by this updater (a new leader starts the wait again: it can only delay a decrease). Resizes
are counted in the pod annotation :data:`HISTORY_ANNOTATION` (Unix times of the last 24 h),
so the budget survives restarts and leader changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

HISTORY_ANNOTATION = "tidal.dev/resize-history"
DAY_S = 86400.0


def resize_history(pod: Mapping[str, Any], now: float) -> list[float]:
    """Times of the pod's in-place resizes in the 24 h before ``now`` (malformed: none)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    times: list[float] = []
    for part in str(annotations.get(HISTORY_ANNOTATION) or "").split(","):
        try:
            value = float(part)
        except ValueError:
            continue
        if now - DAY_S < value <= now:
            times.append(value)
    return sorted(times)


def history_value(times: Iterable[float]) -> str:
    """The annotation value for these resize times."""
    return ",".join(str(int(t)) for t in sorted(times))


class HoldTimer:
    """Since when each (pod uid, container, resource) has wanted a lower value."""

    def __init__(self) -> None:
        self._since: dict[tuple[str, str, str], float] = {}

    def held_for(self, key: tuple[str, str, str], lower: bool, now: float) -> float:
        """Seconds the lower value has been wanted (0 when it is not, or only now)."""
        if not lower:
            self._since.pop(key, None)
            return 0.0
        return now - self._since.setdefault(key, now)

    def keep_only(self, uids: set[str]) -> None:
        """Forget pods that are gone."""
        self._since = {k: v for k, v in self._since.items() if k[0] in uids}
