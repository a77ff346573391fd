"""A pod's controllers from the cache, for :func:`recommender.owners.owner_chain`.

The chain climbs through the controllers the cache keeps (``webhook.state.OWNER_KINDS``, and
the pods that own one): Pod -> ReplicaSet -> Deployment or Rollout, Pod -> StatefulSet ->
LeaderWorkerSet, a LeaderWorkerSet's worker -> StatefulSet -> leader Pod -> StatefulSet ->
LeaderWorkerSet, Pod -> Job -> CronJob. A VPA matches a pod when it targets any controller on
the chain (:func:`webhook.pods.matching_vpa`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recommender.owners import POD, Owner, controller_ref, owner_chain
from webhook.state import REPLICA_SET, ClusterState

POD_TEMPLATE_HASH = "pod-template-hash"


def _deployment_by_name(pod: Mapping[str, Any], owner: Owner) -> Owner | None:
    """A ReplicaSet not yet in the cache, named like the Deployment controller names them."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    template_hash = labels.get(POD_TEMPLATE_HASH)
    suffix = f"-{template_hash}"
    if template_hash and owner.name.endswith(suffix) and len(owner.name) > len(suffix):
        return Owner("Deployment", owner.name[: -len(suffix)], "apps")
    return None


def controller_chain(pod: Mapping[str, Any], namespace: str, state: ClusterState) -> list[Owner]:
    """Controllers from the pod's own up to the top one (empty for a bare pod)."""
    first = controller_ref(pod.get("metadata") or {})

    def parent_of(owner: Owner) -> Owner | None:
        parent = state.controller_of(namespace, owner)
        if parent is None and owner == first and owner.kind == REPLICA_SET \
                and not state.knows(owner.kind, namespace, owner.name):
            # The watch may lag a ReplicaSet created milliseconds before its first pod.
            parent = _deployment_by_name(pod, owner)
        if parent is None and owner.kind == POD and not owner.group:
            parent = state.fetch_owner_pod(namespace, owner.name)
        return parent

    return owner_chain(first, parent_of)
