"""Resolving a pod's top controller through the cached owner chain.

Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, or a single step for StatefulSets,
DaemonSets and ReplicationControllers. The walk follows controller references while the owner
is a kind the cache holds (ReplicaSet, Job); anything else (a Deployment, a CronJob, or a custom
kind with a ``/scale`` subresource such as an Argo Rollout) is the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.state import REPLICA_SET, ClusterState, OwnerRef, controller_ref

MAX_DEPTH = 8  # ownership cycles are invalid but must not hang a request
POD_TEMPLATE_HASH = "pod-template-hash"


def _deployment_by_name(pod: Mapping[str, Any], owner: OwnerRef) -> OwnerRef | None:
    """A ReplicaSet not yet in the cache, named like the Deployment controller names them."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    template_hash = labels.get(POD_TEMPLATE_HASH)
    suffix = f"-{template_hash}"
    if template_hash and owner.name.endswith(suffix) and len(owner.name) > len(suffix):
        return OwnerRef("Deployment", owner.name[: -len(suffix)])
    return None


def controller_chain(pod: Mapping[str, Any], namespace: str, state: ClusterState) -> list[OwnerRef]:
    """Controllers from the pod's own up to the top one (empty for a bare pod)."""
    chain: list[OwnerRef] = []
    owner = controller_ref(pod)
    while owner is not None and len(chain) < MAX_DEPTH and owner not in chain:
        chain.append(owner)
        parent = state.controller_of(owner.kind, namespace, owner.name)
        if (
            parent is None
            and owner.kind == REPLICA_SET
            and not state.knows(owner.kind, namespace, owner.name)
            and len(chain) == 1
        ):
            # The watch may lag a ReplicaSet created milliseconds before its first pod.
            parent = _deployment_by_name(pod, owner)
        owner = parent
    return chain
