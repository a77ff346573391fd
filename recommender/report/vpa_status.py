"""Recommendations read from ``VerticalPodAutoscaler.status`` instead of computed here: what
the in-cluster recommender (or upstream's) already wrote, for a report without history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recommender.quantity import QuantityError, parse_quantity
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import Vpa

_FIELDS = (("target", "target"), ("lowerBound", "lower_bound"), ("upperBound", "upper_bound"),
           ("uncappedTarget", "uncapped_target"))


def _quantities(raw: Any) -> dict[str, float]:
    out = {}
    for name, value in (raw or {}).items():
        try:
            out[str(name)] = parse_quantity(value)
        except QuantityError:
            continue  # a malformed status entry is skipped, not fatal for a report
    return out


def recommendations_from_status(vpas: Iterable[Vpa]) -> list[ContainerRecommendation]:
    """One recommendation per ``status.recommendation.containerRecommendations[]`` entry."""
    out = []
    for vpa in vpas:
        if vpa.target_ref is None:
            continue
        status = vpa.raw.get("status") or {}
        entries = (status.get("recommendation") or {}).get("containerRecommendations") or []
        for entry in entries:
            maps = {attr: _quantities(entry.get(field)) for field, attr in _FIELDS}
            if not maps["uncapped_target"]:
                maps["uncapped_target"] = dict(maps["target"])
            out.append(ContainerRecommendation(
                container=str(entry.get("containerName", "")),
                namespace=vpa.namespace,
                workload=vpa.target_ref.workload,
                evidence={},
                **maps,
            ))
    return out
