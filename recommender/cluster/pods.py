"""Pods as the loop sees them: workload, containers, memory requests, recent OOM kills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from recommender.checkpoint import parse_time
from recommender.cluster.targets import PodInfo, TargetIndex
from recommender.history import OOM, Samples
from recommender.quantity import QuantityError, parse_quantity

TERMINAL_PHASES = ("Succeeded", "Failed")


def _memory(resources: Mapping[str, Any] | None) -> float:
    """The container's memory request, else its limit (0 when neither parses)."""
    for section in ("requests", "limits"):
        value = ((resources or {}).get(section) or {}).get("memory")
        if value is not None:
            try:
                return parse_quantity(value)
            except QuantityError:
                continue
    return 0.0


def pod_info(obj: Mapping[str, Any], index: TargetIndex) -> PodInfo | None:
    """A listed pod as :class:`PodInfo`; None for finished pods."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return None
    namespace = meta.get("namespace", "")
    containers = (obj.get("spec") or {}).get("containers") or []
    ooms = []
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("lastState") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            when = parse_time(terminated.get("finishedAt"))
            if when is not None:
                ooms.append((str(cs.get("name", "")), when))
    return PodInfo(
        namespace=namespace,
        name=meta.get("name", ""),
        workload=index.workload(namespace, meta),
        containers=tuple(str(c.get("name", "")) for c in containers),
        memory_requests={c.get("name", ""): _memory(c.get("resources")) for c in containers},
        oom_kills=tuple(ooms),
        ready_after_s=_ready_after(meta, status),
        upstream=upstream_component(obj),
        node=str((obj.get("spec") or {}).get("nodeName") or ""),
    )


UPSTREAM_RECOMMENDER = "vpa-recommender"
UPSTREAM_COMPONENTS = (UPSTREAM_RECOMMENDER, "vpa-admission-controller", "vpa-updater")


def upstream_component(obj: Mapping[str, Any]) -> str | None:
    """Which part of upstream VPA a pod runs, by its ``app`` label or its image
    (``registry.k8s.io/autoscaling/vpa-recommender:1.x``); None for anything else."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get("app") in UPSTREAM_COMPONENTS:
        return str(labels["app"])
    for c in (obj.get("spec") or {}).get("containers") or []:
        image = str(c.get("image", "")).rsplit("/", 1)[-1].split("@")[0].split(":")[0]
        if image in UPSTREAM_COMPONENTS:
            return image
    return None


def _ready_after(meta: Mapping[str, Any], status: Mapping[str, Any]) -> float | None:
    """Seconds from the pod's creation to its Ready condition turning True, while it is."""
    created = parse_time(meta.get("creationTimestamp"))
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            ready = parse_time(condition.get("lastTransitionTime"))
            if created is not None and ready is not None and ready >= created:
                return ready - created
    return None


def oom_samples(pods: Iterable[PodInfo], seen: set[tuple[str, str, str, float]]) -> Samples:
    """OOM kills not recorded before (``seen`` is updated), valued at the memory request."""
    rows = []
    for pod in pods:
        for container, when in pod.oom_kills:
            key = (pod.namespace, pod.name, container, when)
            if key in seen:
                continue
            seen.add(key)
            used = pod.memory_requests.get(container, 0.0)
            rows.append((when, pod.namespace, pod.workload, pod.name, container, OOM, used))
    if not rows:
        return Samples.empty()
    samples = Samples.from_rows(rows)
    return samples.select(np.argsort(samples.timestamp, kind="stable"))
