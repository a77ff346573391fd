"""The VPA status the recommender writes: recommendation, conditions, and when to write it.

Conditions: ``RecommendationProvided`` is always present (True/False); ``LowConfidence``
(history under a day), ``NoPodsMatched`` and ``ConfigUnsupported`` are present only while
true. ``lastTransitionTime`` is kept while a condition's status stays the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recommender.checkpoint import format_time
from recommender.quantity import QuantityError, Rounding, parse_quantity
from recommender.recommendation import FIELDS, ContainerRecommendation

RECOMMENDATION_PROVIDED = "RecommendationProvided"
LOW_CONFIDENCE = "LowConfidence"
NO_PODS_MATCHED = "NoPodsMatched"
CONFIG_UNSUPPORTED = "ConfigUnsupported"
LOW_CONFIDENCE_HOURS = 24.0


@dataclass(frozen=True)
class Outcome:
    """What the loop concluded about one VPA."""

    recommendations: Sequence[ContainerRecommendation] = ()
    pods_matched: bool = True
    config_error: str | None = None
    # Next-hours targets for a VPA whose pods are resized in place (annotation); None: none.
    next_hours: Sequence[ContainerRecommendation] | None = None


def _condition(kind: str, status: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
    }


def conditions_for(outcome: Outcome) -> list[dict[str, Any]]:
    """The conditions (without transition times) for an outcome."""
    if outcome.config_error is not None:
        return [_condition(CONFIG_UNSUPPORTED, True, "ConfigUnsupported", outcome.config_error)]
    out = []
    recs = outcome.recommendations
    if recs:
        out.append(_condition(RECOMMENDATION_PROVIDED, True))
    elif not outcome.pods_matched:
        message = "No pods match this VPA object"
        out.append(_condition(RECOMMENDATION_PROVIDED, False, "NoPodsMatched", message))
    else:
        message = "No usage history yet for the target's containers"
        out.append(_condition(RECOMMENDATION_PROVIDED, False, "NoHistory", message))
    if not outcome.pods_matched:
        out.append(
            _condition(NO_PODS_MATCHED, True, "NoPodsMatched", "No pods match this VPA object")
        )
    hours = [float(r.evidence.get("historySpanHours", 0.0)) for r in recs]
    if hours and min(hours) < LOW_CONFIDENCE_HOURS:
        message = f"Recommendation based on {min(hours):.1f} h of history (under 1 day)"
        out.append(_condition(LOW_CONFIDENCE, True, "ShortHistory", message))
    return out


def with_transition_times(
    conditions: list[dict[str, Any]], old: Sequence[Mapping[str, Any]], now: float
) -> list[dict[str, Any]]:
    """Keep ``lastTransitionTime`` of conditions whose status did not change."""
    previous = {c.get("type"): c for c in old or []}
    stamp = format_time(now)
    for condition in conditions:
        before = previous.get(condition["type"])
        same = before is not None and before.get("status") == condition["status"]
        condition["lastTransitionTime"] = (
            before.get("lastTransitionTime") if same and before else stamp
        ) or stamp
    return conditions


def desired_status(
    outcome: Outcome,
    old_status: Mapping[str, Any] | None,
    rounding: Rounding | None,
    now: float,
) -> dict[str, Any]:
    """The full new status. With a config error the old recommendation is kept as it was."""
    old_status = old_status or {}
    conditions = with_transition_times(
        conditions_for(outcome), old_status.get("conditions") or [], now
    )
    if outcome.config_error is not None:
        recommendation = old_status.get("recommendation")
    else:
        recommendation = {
            "containerRecommendations": [
                r.to_status(rounding) for r in sorted(outcome.recommendations,
                                                      key=lambda r: r.container)
            ]
        }
    status: dict[str, Any] = {"conditions": conditions}
    if recommendation is not None:
        status["recommendation"] = recommendation
    return status


def _quantities(entry: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    out = {}
    for name in FIELDS:
        for resource, value in (entry.get(name) or {}).items():
            try:
                out[(name, resource)] = parse_quantity(value)
            except QuantityError:
                out[(name, resource)] = math.nan
    return out


Numbers = dict[str, dict[tuple[str, str], float]]  # container -> (field, resource) -> value


def _recommendations(status: Mapping[str, Any]) -> Numbers:
    return recommendation_numbers(status.get("recommendation") or {})


def recommendation_numbers(recommendation: Mapping[str, Any]) -> Numbers:
    """The values of a ``status.recommendation``-shaped mapping."""
    return {
        str(e.get("containerName", "")): _quantities(e)
        for e in recommendation.get("containerRecommendations") or []
    }


def numbers_of(recommendations: Sequence[ContainerRecommendation]) -> Numbers:
    """The unformatted values of recommendations, keyed like :func:`_recommendations`."""
    return {
        r.container: {
            (name, resource): value
            for name, values in r.maps().items()
            for resource, value in values.items()
            if math.isfinite(value)
        }
        for r in recommendations
    }


def _condition_keys(status_or_conditions: Any) -> set[tuple[str, str, str, str]]:
    conditions = (
        status_or_conditions.get("conditions") or []
        if isinstance(status_or_conditions, Mapping) else status_or_conditions
    )
    return {
        (
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "") or ""),
            str(c.get("message", "") or ""),
        )
        for c in conditions
    }


def numbers_close(before: Numbers, after: Numbers, tolerance: float) -> bool:
    """Same containers and resources, every value within ``tolerance`` (relative)."""
    if before.keys() != after.keys():
        return False
    for container, values in after.items():
        previous = before[container]
        if previous.keys() != values.keys():
            return False
        for key, value in values.items():
            was = previous[key]
            if not (math.isfinite(was) and math.isfinite(value)):
                if not (math.isnan(was) and math.isnan(value)):
                    return False
                continue
            if abs(value - was) > tolerance * max(abs(was), abs(value)):
                return False
    return True


def changed_meaningfully(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], tolerance: float
) -> bool:
    """True when conditions differ, containers or resources differ, or any quantity moved
    by more than ``tolerance`` (relative)."""
    old = old or {}
    if _condition_keys(old) != _condition_keys(new):
        return True
    if old.get("recommendation") == new.get("recommendation"):
        return False
    return not numbers_close(_recommendations(old), _recommendations(new), tolerance)


class StatusCache:
    """Per VPA: the ``resourceVersion`` at which we last saw (or wrote) its status and that
    status's numbers and conditions, so that a loop where nothing moved needs neither
    formatting nor quantity parsing. Any write by anyone bumps the resourceVersion."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[str, Numbers, frozenset[Any]]] = {}

    def unchanged(
        self, key: tuple[str, str], obj: Mapping[str, Any], outcome: Outcome, tolerance: float
    ) -> bool:
        """True when ``obj`` is as we last saw it and ``outcome`` does not move its status."""
        cached = self._seen.get(key)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if cached is None or not version or cached[0] != version:
            return False
        if outcome.config_error is not None:
            return False
        if _condition_keys(conditions_for(outcome)) != cached[2]:
            return False
        return numbers_close(cached[1], numbers_of(outcome.recommendations), tolerance)

    def remember(self, key: tuple[str, str], obj: Mapping[str, Any]) -> None:
        """Record a VPA object (as listed, or as returned by our status patch)."""
        version = (obj.get("metadata") or {}).get("resourceVersion")
        status = obj.get("status") or {}
        if version:
            self._seen[key] = (
                version, _recommendations(status), frozenset(_condition_keys(status))
            )

    def forget(self, key: tuple[str, str]) -> None:
        self._seen.pop(key, None)
