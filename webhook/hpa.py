"""HorizontalPodAutoscaler (autoscaling/v1 and v2) reduced to the resource metrics it scales on
(and the names of its External metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recommender.quantity import CPU, MEMORY

KIND = "HorizontalPodAutoscaler"
# Resources that a VPA also sizes: an HPA scaling on them fights the VPA.
CONFLICTING_RESOURCES = (CPU, MEMORY)
# autoscaling/v1 without targetCPUUtilizationPercentage, and v2 without metrics, mean this.
DEFAULT_CPU_UTILIZATION = 80

FORECAST_METRIC = "tidal_forecast"  # Tidal's External metric: absolute demand, not utilisation
_TARGET_WORDS = {"Utilization": "utilization", "AverageValue": "average value", "Value": "value"}


@dataclass(frozen=True)
class ResourceMetric:
    """One ``Resource`` or ``ContainerResource`` metric (container None: the whole pod)."""

    resource: str
    container: str | None = None
    target_type: str = "Utilization"

    def describe(self) -> str:
        """``cpu utilization`` or ``memory average value of container app``."""
        text = f"{self.resource} {_TARGET_WORDS.get(self.target_type, self.target_type.lower())}"
        return f"{text} of container {self.container}" if self.container else text


@dataclass(frozen=True)
class Hpa:
    """An HPA: its target workload and the resource metrics it scales on."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    metrics: tuple[ResourceMetric, ...]
    external: tuple[str, ...] = ()  # names of its External metrics (e.g. tidal_forecast)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def workload(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


def _v2_metric(raw: Mapping[str, Any]) -> ResourceMetric | None:
    kind = raw.get("type")
    if kind == "Resource":
        source = raw.get("resource") or {}
        container = None
    elif kind == "ContainerResource":
        source = raw.get("containerResource") or {}
        container = source.get("container") if isinstance(source, Mapping) else None
        container = container if isinstance(container, str) and container else None
    else:
        return None
    if not isinstance(source, Mapping) or not isinstance(source.get("name"), str):
        return None
    target = source.get("target") or {}
    target_type = target.get("type", "Utilization") if isinstance(target, Mapping) else ""
    return ResourceMetric(source["name"], container, str(target_type or "Utilization"))


def parse_hpa(obj: Mapping[str, Any], version: str = "v2") -> Hpa:
    """Parse an HPA of API ``version`` (v1 or v2*); raises ValueError without a target."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        raise ValueError("metadata and spec must be objects")
    ref = spec.get("scaleTargetRef") or {}
    if not isinstance(ref, Mapping) or not ref.get("kind") or not ref.get("name"):
        raise ValueError("spec.scaleTargetRef: Required value")
    if not isinstance(ref["kind"], str) or not isinstance(ref["name"], str):
        raise ValueError("spec.scaleTargetRef: kind and name must be strings")
    metrics: list[ResourceMetric] = []
    external: list[str] = []
    if version == "v1":
        metrics.append(ResourceMetric(CPU))
    else:
        raw_metrics = spec.get("metrics")
        if not raw_metrics:
            metrics.append(ResourceMetric(CPU))
        for raw in raw_metrics if isinstance(raw_metrics, list) else []:
            metric = _v2_metric(raw) if isinstance(raw, Mapping) else None
            if metric is not None:
                metrics.append(metric)
            elif isinstance(raw, Mapping) and raw.get("type") == "External":
                external_spec = raw.get("external")
                metric_spec = external_spec.get("metric") if isinstance(external_spec, Mapping) \
                    else None
                name = metric_spec.get("name") if isinstance(metric_spec, Mapping) else None
                if isinstance(name, str):
                    external.append(name)
    return Hpa(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        target_kind=str(ref["kind"]),
        target_name=str(ref["name"]),
        metrics=tuple(metrics),
        external=tuple(external),
    )


def conflicting_metrics(hpa: Hpa) -> tuple[ResourceMetric, ...]:
    """The metrics on resources that a VPA may also control."""
    return tuple(m for m in hpa.metrics if m.resource in CONFLICTING_RESOURCES)
