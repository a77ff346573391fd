"""LimitRange bounds (type Container and type Pod) for a namespace, in base units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.quantity import QuantityError, parse_quantity

CONTAINER = "Container"
POD = "Pod"
MAX_NOTE = "capped to LimitRange max"
MIN_NOTE = "capped to LimitRange min"
RATIO_NOTE = "request raised to LimitRange maxLimitRequestRatio"


@dataclass(frozen=True)
class Bounds:
    """The tightest ``min``/``max``/``maxLimitRequestRatio`` per resource over a namespace's
    LimitRanges."""

    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    ratio: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.min or self.max or self.ratio)


def _quantities(raw: Any) -> dict[str, float]:
    values: dict[str, float] = {}
    if not isinstance(raw, Mapping):
        return values
    for name, value in raw.items():
        try:
            values[str(name)] = parse_quantity(value)
        except (QuantityError, TypeError):
            continue
    return values


def bounds(limit_ranges: Iterable[Iterable[Mapping[str, Any]]], kind: str) -> Bounds:
    """Combine every item of ``kind`` (``Container`` or ``Pod``): highest min, lowest max and
    lowest ratio (LimitRanger enforces each LimitRange, so the tightest of them binds)."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    ratio: dict[str, float] = {}
    for limits in limit_ranges:
        for item in limits:
            if item.get("type") != kind:
                continue
            for name, value in _quantities(item.get("min")).items():
                low[name] = max(value, low.get(name, value))
            for name, value in _quantities(item.get("max")).items():
                high[name] = min(value, high.get(name, value))
            for name, value in _quantities(item.get("maxLimitRequestRatio")).items():
                if value > 0:
                    ratio[name] = min(value, ratio.get(name, value))
    return Bounds(low, high, ratio)
