"""Which pods need an update and in what order: upstream VPA's update priority.

A pod is updated when a container's request lies outside [lowerBound, upperBound]; when it
was OOM-killed soon after starting and that kill is recent (a "quick OOM", both within
``evict_after_oom_s``: the VPA's ``evictAfterOOMSeconds``, else the global threshold) and more
memory is recommended; or, when
within bounds, once it has lived ``lifetime_threshold_s`` and its requests differ from the
target by more than ``pod_update_threshold`` (summed relative difference per resource).
Pods outside their bounds go first, then by the size of the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from recommender.quantity import MEMORY
from updater.pods import COMPUTE, PodView

Resources = Mapping[str, float]


@dataclass(frozen=True, order=True)
class Priority:
    """Sort key (larger first) and the facts behind it."""

    outside_range: bool
    quick_oom: bool
    scale_up: bool
    resource_diff: float

    def describe(self) -> str:
        if self.outside_range:
            return "outside bounds"
        if self.quick_oom:
            return "OOM-killed soon after start"
        return f"{self.resource_diff:.0%} from target"


NO_PRIORITY = Priority(False, False, False, 0.0)  # sorts after every pod that needs an update


def resource_diff(current: Mapping[str, Resources], desired: Mapping[str, Resources]) -> float:
    """Sum over resources of |desired total - requested total| / requested total (pod-wide).

    A missing request counts as one milli-unit, as upstream does, so it always weighs heavily.
    """
    totals_now: dict[str, float] = {}
    totals_new: dict[str, float] = {}
    for container, wanted in desired.items():
        for resource, value in wanted.items():
            if resource not in COMPUTE:
                continue
            totals_new[resource] = totals_new.get(resource, 0.0) + value
            now = current.get(container, {}).get(resource, 0.0)
            totals_now[resource] = totals_now.get(resource, 0.0) + now
    diff = 0.0
    for resource, new in totals_new.items():
        old = max(totals_now.get(resource, 0.0), 1e-3)
        diff += abs(new - old) / old
    return diff


def outside_range(
    current: Mapping[str, Resources], bounds: Mapping[str, tuple[Resources, Resources]]
) -> bool:
    """Any request below its container's lowerBound or above its upperBound (or missing)."""
    for container, (lower, upper) in bounds.items():
        requests = current.get(container, {})
        for resource in COMPUTE:
            low, high = lower.get(resource), upper.get(resource)
            if low is None and high is None:
                continue
            request = requests.get(resource)
            if request is None:
                return True
            if (low is not None and request < low) or (high is not None and request > high):
                return True
    return False


def quick_oom(
    pod: PodView, desired: Mapping[str, Resources], evict_after_oom_s: float, now: float
) -> bool:
    """A sized container OOM-killed within ``evict_after_oom_s`` of its start, no longer than
    that ago (upstream's rule), with more memory due."""
    for container in pod.containers:
        killed, started = container.oom_killed_at, container.oom_started_at
        if killed is None or started is None or killed - started >= evict_after_oom_s:
            continue
        if now - killed >= evict_after_oom_s:
            continue
        wanted = desired.get(container.name, {}).get(MEMORY)
        if wanted is not None and wanted > container.requests.get(MEMORY, 0.0):
            return True
    return False


def priority(
    pod: PodView,
    desired: Mapping[str, Resources],
    bounds: Mapping[str, tuple[Resources, Resources]],
    evict_after_oom_s: float,
    now: float,
) -> Priority:
    """The pod's update priority for the desired requests (container -> resource -> value)."""
    current = {c.name: c.requests for c in pod.containers}
    up = any(
        value > current.get(name, {}).get(resource, 0.0)
        for name, wanted in desired.items()
        for resource, value in wanted.items()
        if resource in COMPUTE
    )
    return Priority(
        outside_range=outside_range(current, bounds),
        quick_oom=quick_oom(pod, desired, evict_after_oom_s, now),
        scale_up=up,
        resource_diff=resource_diff(current, desired),
    )


def needs_update(
    prio: Priority,
    pod: PodView,
    now: float,
    lifetime_threshold_s: float,
    threshold: float,
) -> str | None:
    """Why the pod should be updated (None: it should not), upstream's rule."""
    if prio.resource_diff <= 1e-9:
        return None
    if prio.outside_range or prio.quick_oom:
        return prio.describe()
    if pod.start_time is None or now - pod.start_time < lifetime_threshold_s:
        return None
    if prio.resource_diff < threshold:
        return None
    return prio.describe()
