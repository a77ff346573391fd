"""What the updater reads off a running pod: resources, QoS class, resize state, OOM kills.

Pure: pod objects (dicts as the API serves them) in, typed values out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recommender.quantity import CPU, MEMORY
from webhook.sizing import quantities

GUARANTEED, BURSTABLE, BEST_EFFORT = "Guaranteed", "Burstable", "BestEffort"
RESIZE_PENDING = "PodResizePending"  # reason Deferred or Infeasible
RESIZE_IN_PROGRESS = "PodResizeInProgress"  # reason Error when the kubelet failed to apply it
COMPUTE = (CPU, MEMORY)


def timestamp(value: Any) -> float | None:
    """RFC 3339 (``metav1.Time``) to Unix seconds; None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Condition:
    """A pod condition the updater acts on: reason, message and since when."""

    reason: str = ""
    message: str = ""
    since: float | None = None


@dataclass(frozen=True)
class ContainerView:
    """One app container: spec resources, resize policy and what its status reports."""

    name: str
    requests: Mapping[str, float]
    limits: Mapping[str, float]
    resize_policy: Mapping[str, str] = field(default_factory=dict)  # resource -> policy
    restarts: int = 0
    started_at: float | None = None
    oom_killed_at: float | None = None  # finishedAt of the last OOMKilled termination
    oom_started_at: float | None = None  # startedAt of that terminated run


@dataclass(frozen=True)
class PodView:
    """A pod as the updater sees it."""

    namespace: str
    name: str
    uid: str
    phase: str
    containers: tuple[ContainerView, ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)
    start_time: float | None = None
    ready_since: float | None = None
    deleting: bool = False
    qos: str = BURSTABLE
    resize_pending: Condition | None = None
    resize_in_progress: Condition | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def container(self, name: str) -> ContainerView | None:
        for container in self.containers:
            if container.name == name:
                return container
        return None


def qos_class(containers: Sequence[Mapping[str, Any]]) -> str:
    """The QoS class Kubernetes derives from the containers' cpu and memory requests/limits.

    Guaranteed: every container has cpu and memory limits equal to its requests (a missing
    request defaults to the limit); BestEffort: none sets any; otherwise Burstable.
    """
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = quantities(resources.get("requests"))
        limits = quantities(resources.get("limits"))
        for resource in COMPUTE:
            request, limit = requests.get(resource), limits.get(resource)
            if request or limit:
                any_set = True
            if limit is None or (request is not None and request != limit):
                guaranteed = False
    if not any_set:
        return BEST_EFFORT
    return GUARANTEED if guaranteed else BURSTABLE


def _condition(conditions: list[Mapping[str, Any]], kind: str) -> Condition | None:
    for item in conditions:
        if item.get("type") == kind and item.get("status", "True") == "True":
            return Condition(
                str(item.get("reason") or ""),
                str(item.get("message") or ""),
                timestamp(item.get("lastTransitionTime")),
            )
    return None


def _container(spec: Mapping[str, Any], status: Mapping[str, Any]) -> ContainerView:
    resources = spec.get("resources") or {}
    policy = {
        str(p.get("resourceName")): str(p.get("restartPolicy") or "NotRequired")
        for p in spec.get("resizePolicy") or []
        if isinstance(p, Mapping)
    }
    last = ((status.get("lastState") or {}).get("terminated")) or {}
    oom = last.get("reason") == "OOMKilled"
    running = (status.get("state") or {}).get("running") or {}
    return ContainerView(
        name=str(spec.get("name") or ""),
        requests=quantities(resources.get("requests")),
        limits=quantities(resources.get("limits")),
        resize_policy=policy,
        restarts=int(status.get("restartCount") or 0),
        started_at=timestamp(running.get("startedAt")),
        oom_killed_at=timestamp(last.get("finishedAt")) if oom else None,
        oom_started_at=timestamp(last.get("startedAt")) if oom else None,
    )


def pod_view(pod: Mapping[str, Any], containers: bool = True) -> PodView:
    """Read one pod object (``containers=False``: only its identity and phase)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = {
        str(s.get("name")): s for s in status.get("containerStatuses") or [] if isinstance(s, dict)
    }
    specs = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    specs = specs if containers else []
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    ready = _condition(conditions, "Ready")
    return PodView(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        phase=str(status.get("phase") or "Pending"),
        containers=tuple(_container(c, statuses.get(str(c.get("name")), {})) for c in specs),
        raw=pod,
        start_time=timestamp(status.get("startTime")),
        ready_since=ready.since if ready else None,
        deleting=bool(meta.get("deletionTimestamp")),
        qos=str(status.get("qosClass") or qos_class(specs)),
        resize_pending=_condition(conditions, RESIZE_PENDING),
        resize_in_progress=_condition(conditions, RESIZE_IN_PROGRESS),
    )
