"""Current resources from workload manifests (``--workloads FILE.yaml``).

Reads Deployments, StatefulSets, DaemonSets, CronJobs and Jobs, HorizontalPodAutoscalers and
VerticalPodAutoscalers, from multi-document YAML or ``kubectl get -o yaml`` ``List`` output.
Other kinds are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from recommender.quantity import QuantityError, parse_quantity
from recommender.report.inventory import (
    WORKLOAD_KINDS,
    Autoscaler,
    ContainerResources,
    Inventory,
    WorkloadResources,
)
from recommender.vpa import KIND as VPA_KIND
from recommender.vpa import parse_vpa

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
HPA_KIND = "HorizontalPodAutoscaler"


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and object."""


class ManifestSource:
    """:class:`~recommender.report.inventory.CurrentResourcesSource` over YAML files."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def load(self) -> Inventory:
        inventory = Inventory()
        for path in self.paths:
            try:
                docs = list(yaml.safe_load_all(Path(path).read_text()))
            except (OSError, yaml.YAMLError) as exc:
                raise ManifestError(f"{path}: cannot read workloads YAML: {exc}") from None
            for obj in _objects(docs):
                try:
                    add_object(inventory, obj)
                except (QuantityError, TypeError, ValueError) as exc:
                    meta = obj.get("metadata") or {}
                    name = f"{obj.get('kind')} {meta.get('namespace', 'default')}/"
                    raise ManifestError(f"{path}: {name}{meta.get('name', '?')}: {exc}") from None
        return inventory


def _objects(docs: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        if doc.get("kind") == "List" or str(doc.get("kind", "")).endswith("List"):
            yield from _objects(doc.get("items") or [])
        else:
            yield doc


def add_object(inventory: Inventory, obj: Mapping[str, Any]) -> None:
    """Add one API object to ``inventory`` when it is a workload, an HPA or a VPA.

    Jobs created by a CronJob are skipped: their pods are the CronJob's in the history.
    """
    kind = obj.get("kind")
    if kind in WORKLOAD_KINDS:
        owners = (obj.get("metadata") or {}).get("ownerReferences") or []
        if kind == "Job" and any(o.get("kind") == "CronJob" for o in owners):
            return
        inventory.add(parse_workload(obj))
    elif kind == HPA_KIND:
        key, hpa = parse_hpa(obj)
        inventory.autoscalers[key] = hpa
    elif kind == VPA_KIND:
        inventory.vpas.append(parse_vpa(obj))


def _pod_spec(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(pod spec, the spec holding ``parallelism``) of a workload object."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec") or {}), spec


def _quantities(raw: Mapping[str, Any] | None) -> dict[str, float]:
    return {str(name): parse_quantity(value) for name, value in (raw or {}).items()}


def parse_workload(obj: Mapping[str, Any]) -> WorkloadResources:
    """A workload object -> its containers' resources and replica count."""
    kind = str(obj["kind"])
    meta = obj.get("metadata") or {}
    pod, spec = _pod_spec(obj)
    containers = tuple(
        ContainerResources(
            name=str(c["name"]),
            requests=_quantities((c.get("resources") or {}).get("requests")),
            limits=_quantities((c.get("resources") or {}).get("limits")),
        )
        for c in pod.get("containers") or []
    )
    status = obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        replicas = spec.get("replicas", 1)
    elif kind == "DaemonSet":
        replicas = status.get("desiredNumberScheduled", 1)  # kubectl output knows the nodes
    else:
        replicas = spec.get("parallelism", 1)
    return WorkloadResources(
        namespace=str(meta.get("namespace") or "default"),
        kind=kind,
        name=str(meta["name"]),
        replicas=int(replicas if replicas is not None else 1),
        containers=containers,
        gpu_product=str((pod.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL, "")),
    )


def parse_hpa(obj: Mapping[str, Any]) -> tuple[tuple[str, str], Autoscaler]:
    """An HPA (autoscaling/v1 or v2) -> ``((namespace, Kind/name), Autoscaler)``."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    resources: list[str] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        resources.append("cpu")
    for metric in spec.get("metrics") or []:
        kind = metric.get("type")
        source = metric.get("resource" if kind == "Resource" else "containerResource") or {}
        if kind in ("Resource", "ContainerResource") and source.get("name"):
            resources.append(str(source["name"]))
    if not spec.get("metrics") and "targetCPUUtilizationPercentage" not in spec:
        resources.append("cpu")  # the API server defaults a metric-less HPA to 80% cpu
    key = (str(meta.get("namespace") or "default"), f"{ref.get('kind')}/{ref.get('name')}")
    hpa = Autoscaler(
        name=str(meta.get("name", "")),
        resources=tuple(sorted(set(resources))),
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec.get("maxReplicas", 1)),
    )
    return key, hpa
