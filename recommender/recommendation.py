"""A container's recommendation and its ``VerticalPodAutoscaler.status`` form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from recommender.quantity import Rounding, format_quantity

FIELDS = ("target", "lowerBound", "upperBound", "uncappedTarget")


@dataclass(frozen=True)
class ContainerRecommendation:
    """Target and bounds for one container, in base units (cores, bytes, devices).

    ``namespace``/``workload`` identify the aggregate (``Kind/name``); ``evidence`` carries the
    history behind the numbers (span in hours, sample counts) for reports and JSON output.
    """

    container: str
    target: dict[str, float]
    lower_bound: dict[str, float]
    upper_bound: dict[str, float]
    uncapped_target: dict[str, float]
    namespace: str = ""
    workload: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def maps(self) -> dict[str, dict[str, float]]:
        """The four resource maps keyed by their status field names."""
        return {
            "target": self.target,
            "lowerBound": self.lower_bound,
            "upperBound": self.upper_bound,
            "uncappedTarget": self.uncapped_target,
        }

    def with_maps(self, **maps: dict[str, float]) -> ContainerRecommendation:
        """A copy with some of the maps replaced (keyword names as in the dataclass)."""
        return replace(self, **maps)  # type: ignore[arg-type]

    def to_status(self, rounding: Rounding | None = None) -> dict[str, Any]:
        """The ``containerRecommendations[]`` entry, quantities as Kubernetes strings."""
        entry: dict[str, Any] = {"containerName": self.container}
        for name, values in self.maps().items():
            entry[name] = {
                resource: format_quantity(resource, value, rounding)
                for resource, value in sorted(values.items())
                if math.isfinite(value)
            }
        return entry
