"""Pods to VPA targets: the top controller through ``ownerReferences`` (controller=true).

A pod's workload is ``Kind/name`` of its top controller: ReplicaSet -> Deployment and
Job -> CronJob are followed; anything else (StatefulSet, DaemonSet, custom kinds with a
``/scale`` subresource) is the top. A pod without a controller is its own workload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Kinds whose existence the loop can check: kind -> (API path prefix, plural).
WELL_KNOWN: dict[str, tuple[str, str]] = {
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "ReplicationController": ("/api/v1", "replicationcontrollers"),
}
# Kinds whose own controller is followed upwards.
INTERMEDIATE = ("ReplicaSet", "Job")


def controller_of(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(kind, name)`` of the ``controller: true`` owner reference, if any."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


@dataclass
class TargetIndex:
    """Which workloads exist and who controls the intermediate ones, per namespace."""

    parents: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    existing: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, kind: str, obj: Mapping[str, Any]) -> None:
        """Record one listed workload object of ``kind``."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        self.existing.add((namespace, kind, name))
        if kind in INTERMEDIATE and (owner := controller_of(meta)):
            self.parents[(namespace, kind, name)] = owner

    def workload(self, namespace: str, meta: Mapping[str, Any]) -> str:
        """``Kind/name`` of the top controller of an object (a pod)."""
        owner = controller_of(meta)
        if owner is None:
            return f"Pod/{meta.get('name', '')}"
        seen = 0
        while owner[0] in INTERMEDIATE and seen < 4:
            parent = self.parents.get((namespace, *owner))
            if parent is None:
                break
            owner, seen = parent, seen + 1
        self.existing.add((namespace, *owner))
        return f"{owner[0]}/{owner[1]}"

    def exists(self, namespace: str, kind: str, name: str) -> bool:
        return (namespace, kind, name) in self.existing


@dataclass(frozen=True)
class PodInfo:
    """What the loop needs from one pod."""

    namespace: str
    name: str
    workload: str
    containers: tuple[str, ...]
    memory_requests: Mapping[str, float]
    oom_kills: tuple[tuple[str, float], ...] = ()  # (container, finishedAt) of OOMKilled
    ready_after_s: float | None = None  # creation to Ready (the cold start), if Ready
    upstream: str | None = None  # the upstream VPA component it runs (vpa-recommender, ...)
    node: str = ""  # spec.nodeName, once scheduled

    @property
    def upstream_recommender(self) -> bool:
        return self.upstream == "vpa-recommender"
