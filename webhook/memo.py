"""Replicas of one pod template are sized once: pod patches memoised per VPA and template.

A scale-up sends the webhook many pods that differ only in their names. Their patch depends on
the matching VPA (with its recommendation), the namespace's LimitRanges, GPU-claims label and
claim template names, and the pod's annotations, resource claims and containers' names and
resources, nothing else, so it is computed for the first replica and reused for the rest.
The cache keys VPA entries and LimitRanges by identity: the cluster state replaces those
objects on every change, so a changed VPA, recommendation or LimitRange can never hit an old
entry (and the entry it keeps alive can't lend its id to another object).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from webhook.patches import build_patch
from webhook.pods import PodPlan, matching_vpa, plan_pod
from webhook.state import ClusterState
from webhook.wire import PatchOperation

# Pod templates remembered per worker: distinct (VPA, template) pairs admitted recently.
CAPACITY = 1024


@dataclass(frozen=True)
class PodPatch:
    """A pod's plan and the JSON patch that applies it (empty: nothing to change)."""

    plan: PodPlan
    patch: list[PatchOperation]


def _template(pod: Mapping[str, Any]) -> bytes:
    """What of the pod the plan reads: annotations, resource claims and each container's name
    and resources."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    annotations = (pod.get("metadata") or {}).get("annotations")
    shape = [annotations, spec.get("resourceClaims"),
             [[c.get("name"), c.get("resources")] for c in containers]]
    return orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)


def pod_patch(
    pod: Mapping[str, Any], namespace: str, state: ClusterState, **known: Any
) -> PodPatch:
    """Plan ``pod`` and build its patch (not memoised); ``known``: see :func:`plan_pod`."""
    plan = plan_pod(pod, namespace, state, **known)
    if plan.mutated is None or plan.original is None:
        return PodPatch(plan, [])
    patch = [
        op
        for pointer, part in plan.mutated.items()
        for op in build_patch(plan.original[pointer], part, pointer)
    ]
    return PodPatch(plan, patch)


class PatchMemo:
    """A bounded, thread-safe LRU of :class:`PodPatch` by (VPA entry, LimitRanges, template)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[Any, ...], tuple[Any, PodPatch]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def pod_patch(self, pod: Mapping[str, Any], namespace: str, state: ClusterState) -> PodPatch:
        """:func:`pod_patch`, reused for pods of a template already seen with the same VPA."""
        match = matching_vpa(pod, namespace, state)
        entry = match[0]
        if entry is None:
            return pod_patch(pod, namespace, state, match=match)
        ranges = state.limit_ranges(namespace)
        try:
            key = (id(entry), *map(id, ranges), state.gpu_claims_label(namespace),
                   state.claim_templates(namespace), _template(pod))
        except (TypeError, AttributeError, orjson.JSONEncodeError):
            # Odd shapes: the planner explains them.
            return pod_patch(pod, namespace, state, match=match, ranges=ranges)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found[1]
        # Planned from the very objects keyed on, so a concurrent update cannot mismatch them.
        result = pod_patch(pod, namespace, state, match=match, ranges=ranges)
        with self._lock:
            self.misses += 1
            # The value holds the keyed objects so that their ids stay theirs while cached.
            self._items[key] = ((entry, ranges), result)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return result
