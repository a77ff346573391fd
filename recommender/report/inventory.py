"""What workloads request today: the "current resources" side of a report.

A :class:`CurrentResourcesSource` produces an :class:`Inventory`. Offline it comes from
manifests (:mod:`recommender.report.manifests`); a cluster source (live pod templates, HPAs and
VPA status) plugs in behind the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from recommender.logic.gpu import GpuModels, product_gpu_model
from recommender.vpa import Vpa

# Kinds whose pod template a report can read and a patch can change.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
BATCH_KINDS = ("CronJob", "Job")


@dataclass(frozen=True)
class ContainerResources:
    """``resources:`` of one container, in base units keyed by Kubernetes resource name."""

    name: str
    requests: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)

    def request(self, resource: str) -> float | None:
        """The effective request: an unset request defaults to the limit, as Kubernetes does."""
        if resource in self.requests:
            return self.requests[resource]
        return self.limits.get(resource)


@dataclass(frozen=True)
class Autoscaler:
    """A HorizontalPodAutoscaler reduced to what a report needs."""

    name: str
    resources: tuple[str, ...]  # resource metrics it scales on (cpu, memory)
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class WorkloadResources:
    """One workload's pod template resources and replica count."""

    namespace: str
    kind: str
    name: str
    replicas: int
    containers: tuple[ContainerResources, ...]
    gpu_product: str = ""  # node selector ``nvidia.com/gpu.product`` when set

    @property
    def workload(self) -> str:
        """``Kind/name``, the workload form of the history."""
        return f"{self.kind}/{self.name}"

    def container(self, name: str) -> ContainerResources | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass
class Inventory:
    """Workloads and HPAs by ``(namespace, Kind/name)``, and the VPAs found beside them."""

    workloads: dict[tuple[str, str], WorkloadResources] = field(default_factory=dict)
    autoscalers: dict[tuple[str, str], Autoscaler] = field(default_factory=dict)
    vpas: list[Vpa] = field(default_factory=list)

    def add(self, workload: WorkloadResources) -> None:
        self.workloads[(workload.namespace, workload.workload)] = workload

    def workload(self, namespace: str, workload: str) -> WorkloadResources | None:
        return self.workloads.get((namespace, workload))

    def autoscaler(self, namespace: str, workload: str) -> Autoscaler | None:
        return self.autoscalers.get((namespace, workload))

    def gpu_models(self) -> GpuModels:
        """Each workload's GPU model from its nodes' ``nvidia.com/gpu.product`` label."""
        return {key: model for key, w in self.workloads.items()
                if w.gpu_product and (model := product_gpu_model(w.gpu_product)) is not None}


class CurrentResourcesSource(Protocol):
    """Where current requests/limits come from (manifests offline, the API server live)."""

    def load(self) -> Inventory: ...
