"""Pods to VPA targets, for the loop: the listed controllers and :mod:`recommender.owners`.

A pod's workload is ``Kind/name`` of its top-most well-known or scalable controller
(:func:`recommender.owners.workload_of`), found through the controllers the loop lists
(``INTERMEDIATE``) and the pods that own one. A pod without a controller is its own
workload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.owners import (
    OWNED_KINDS,
    POD,
    Discovery,
    Owner,
    ParentOf,
    controller_ref,
    group_of,
    owner_chain,
    top_target,
    workload_of,
)

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
# Kinds listed to climb from pods to their workloads.
INTERMEDIATE = OWNED_KINDS


@dataclass
class TargetIndex:
    """Which workloads exist and who controls the listed controllers, per namespace."""

    discovery: Discovery = field(default_factory=Discovery)
    parents: dict[tuple[str, str, str], Owner] = field(default_factory=dict)
    existing: set[tuple[str, str, str]] = field(default_factory=set)
    owner_pods: set[tuple[str, str]] = field(default_factory=set)  # pods that own a controller

    def add(self, kind: str, obj: Mapping[str, Any]) -> None:
        """Record one listed object of ``kind`` (a controller, or a pod that owns one)."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        self.existing.add((namespace, kind, name))
        if (owner := controller_ref(meta)) is not None:
            self.parents[(namespace, kind, name)] = owner
            if owner.kind == POD and not owner.group:
                self.owner_pods.add((namespace, owner.name))

    def parent_of(self, namespace: str) -> ParentOf:
        """The controller of a listed object of ``namespace``."""
        return lambda owner: self.parents.get((namespace, owner.kind, owner.name))

    def workload(self, namespace: str, meta: Mapping[str, Any]) -> str:
        """``Kind/name`` of the workload of a pod (its metadata)."""
        found = workload_of(meta, self.parent_of(namespace), self.discovery)
        kind, _, name = found.partition("/")
        self.existing.add((namespace, kind, name))
        return found

    def through_pod(self, namespace: str, meta: Mapping[str, Any]) -> bool:
        """Whether a pod's chain of controllers reaches a pod not listed yet."""
        chain = owner_chain(controller_ref(meta), self.parent_of(namespace))
        return bool(chain) and chain[-1].kind == POD

    def target_top(self, namespace: str, kind: str, name: str, api_version: str) -> Owner:
        """The workload a VPA's target stands for: its own top-most target (a VPA on the
        StatefulSet of a LeaderWorkerSet sizes the LeaderWorkerSet's pods, as upstream)."""
        chain = owner_chain(Owner(kind, name, group_of(api_version)), self.parent_of(namespace))
        return top_target(chain, self.discovery) or chain[0]

    def api_version(self, owner: Owner) -> str:
        """An ``apiVersion`` for ``owner``: the well-known one, or the served custom one."""
        if owner.kind in WELL_KNOWN:
            return WELL_KNOWN[owner.kind][0].removeprefix("/apis/").removeprefix("/api/")
        found = self.discovery.kinds.get((owner.group, owner.kind))
        return f"{owner.group}/{found.version}" if found else owner.group

    def exists(self, namespace: str, kind: str, name: str) -> bool:
        return (namespace, kind, name) in self.existing


def discover(get: Callable[[str], Mapping[str, Any] | None],
             on_error: Callable[[str, Exception], None]) -> Discovery:
    """The custom kinds the API serves: ``GET /apis`` and one GET per custom group (its
    preferred version). Built-in groups (no dot, or ``*.k8s.io``) are skipped: their kinds
    with ``/scale`` are the well-known ones. A group that fails is reported and left out."""
    groups = (get("/apis") or {}).get("groups") or []
    lists = []
    for group in groups:
        name = str(group.get("name", ""))
        if "." not in name or name.endswith(".k8s.io"):
            continue
        version = str((group.get("preferredVersion") or {}).get("groupVersion") or "")
        try:
            doc = get(f"/apis/{version}")
        except Exception as exc:  # an aggregated API that is down must not stop the rest
            on_error(version, exc)
            continue
        if doc:
            lists.append(doc)
    return Discovery.from_resource_lists(lists, complete=True)


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
