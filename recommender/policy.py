"""Capping a recommendation by a VPA ``resourcePolicy``, exactly as upstream does.

Used by the recommender (status) and by the webhook (pod mutation): one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping

from recommender.quantity import GPU, MIG_PREFIX
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import DEFAULT_CONTROLLED_RESOURCES, ContainerPolicy

MIN_NOTE = "capped to minAllowed"
MAX_NOTE = "capped to maxAllowed"


def cap(resource: str, value: float, policy: ContainerPolicy | None) -> tuple[float, str | None]:
    """Clamp one value to the policy's minAllowed/maxAllowed; returns (value, note or None).

    A zero (or absent) bound is ignored, as upstream does.
    """
    if policy is None:
        return value, None
    note = None
    low = policy.min_allowed.get(resource)
    if low and value < low:
        value, note = low, MIN_NOTE
    high = policy.max_allowed.get(resource)
    if high and value > high:
        value, note = high, MAX_NOTE
    return value, note


def cap_map(values: Mapping[str, float], policy: ContainerPolicy | None) -> dict[str, float]:
    """Cap every resource in a map."""
    return {resource: cap(resource, value, policy)[0] for resource, value in values.items()}


def controlled(values: Mapping[str, float], resources: tuple[str, ...]) -> dict[str, float]:
    """Keep only the controlled resources (listing ``nvidia.com/gpu`` also admits MIG)."""
    return {
        name: value
        for name, value in values.items()
        if name in resources or (name.startswith(MIG_PREFIX) and GPU in resources)
    }


def apply_policy(
    rec: ContainerRecommendation, policy: ContainerPolicy | None
) -> ContainerRecommendation | None:
    """Filter by ``controlledResources`` and cap target and bounds; ``None`` for ``mode: Off``.

    ``uncappedTarget`` keeps the raw target (filtered to the controlled resources).
    """
    if policy is None:
        if all(name in DEFAULT_CONTROLLED_RESOURCES for name in rec.target):
            return rec  # nothing to filter or cap
    elif policy.mode == "Off":
        return None
    resources = policy.controlled_resources if policy else DEFAULT_CONTROLLED_RESOURCES
    return rec.with_maps(
        target=cap_map(controlled(rec.target, resources), policy),
        lower_bound=cap_map(controlled(rec.lower_bound, resources), policy),
        upper_bound=cap_map(controlled(rec.upper_bound, resources), policy),
        uncapped_target=controlled(rec.uncapped_target, resources),
    )
