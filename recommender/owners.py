"""Which workload a pod belongs to: its top-most well-known or scalable controller.

As upstream VPA: from the pod's controller (``ownerReferences`` with ``controller: true``),
follow each controller's own controller upwards; the workload is the top-most one that is a
well-known controller (Deployment, StatefulSet, ...) or of a kind with a ``/scale``
subresource (a LeaderWorkerSet, an Argo Rollout, any custom kind that can be scaled), found
through API discovery. Pods -> ReplicaSet -> Rollout is the Rollout; pods -> StatefulSet ->
LeaderWorkerSet is the LeaderWorkerSet, and so are its worker pods, whose StatefulSet a leader
pod owns. One resolver for the recommender, the webhook and the updater; each gives it its own
view of the controllers' owners (:data:`ParentOf`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 8  # ownership cycles are invalid but must not hang anything

# Well-known controllers: kind -> API group.
WELL_KNOWN: dict[str, str] = {
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "Job": "batch",
    "CronJob": "batch",
    "ReplicationController": "",
}
# Kinds whose own controller is looked up (cached or listed): the well-known ones that are
# owned in practice, and pods (a LeaderWorkerSet's leader pod owns its workers' StatefulSet).
OWNED_KINDS = ("ReplicaSet", "Job", "StatefulSet", "Deployment", "DaemonSet")
POD = "Pod"


def group_of(api_version: str) -> str:
    """The API group of an ``apiVersion`` (``apps/v1`` -> ``apps``, ``v1`` -> ``""``)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


@dataclass(frozen=True)
class Owner:
    """A controller in the object's namespace: kind, name and API group."""

    kind: str
    name: str
    group: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def controller_ref(meta: Mapping[str, Any]) -> Owner | None:
    """The owner reference with ``controller: true`` of an object's metadata, if any."""
    refs = meta.get("ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, Mapping) and ref.get("controller") and ref.get("kind"):
            kind, name, version = ref["kind"], ref.get("name") or "", ref.get("apiVersion") or ""
            if isinstance(kind, str) and isinstance(name, str) and isinstance(version, str):
                return Owner(kind, name, group_of(version))
    return None


@dataclass(frozen=True)
class ApiKind:
    """A served kind: where to list it, and whether it has a ``/scale`` subresource."""

    group: str
    version: str
    kind: str
    plural: str
    scalable: bool = False

    @property
    def prefix(self) -> str:
        """The API path prefix (``/apis/group/version``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


@dataclass(frozen=True)
class Discovery:
    """The custom kinds a cluster serves (from API discovery), by (group, kind);
    ``complete``: discovery ran (otherwise no kind can be judged unsupported)."""

    kinds: Mapping[tuple[str, str], ApiKind] = field(default_factory=dict)
    complete: bool = False

    @classmethod
    def from_resource_lists(cls, lists: Iterable[Mapping[str, Any]], complete: bool = True
                            ) -> Discovery:
        """From ``APIResourceList`` documents (``GET /apis/<group>/<version>``)."""
        kinds: dict[tuple[str, str], ApiKind] = {}
        for doc in lists:
            group_version = str(doc.get("groupVersion") or "")
            group, version = group_of(group_version), group_version.rsplit("/", 1)[-1]
            resources = [r for r in doc.get("resources") or [] if isinstance(r, Mapping)]
            scaled = {str(r.get("name", "")).split("/")[0] for r in resources
                      if str(r.get("name", "")).endswith("/scale")}
            for r in resources:
                plural = str(r.get("name", ""))
                if "/" in plural or not r.get("kind") or not r.get("namespaced", True):
                    continue
                kind = str(r["kind"])
                kinds.setdefault((group, kind), ApiKind(group, version, kind, plural,
                                                        plural in scaled))
        return cls(kinds, complete)

    def scalable(self) -> list[ApiKind]:
        """The custom kinds with ``/scale``."""
        return [k for k in self.kinds.values() if k.scalable]

    def is_target(self, owner: Owner) -> bool:
        """Whether ``owner`` can be a VPA target: well-known, or a kind with ``/scale``."""
        if WELL_KNOWN.get(owner.kind) == owner.group:
            return True
        found = self.kinds.get((owner.group, owner.kind))
        return found is not None and found.scalable

    def unsupported(self, kind: str, group: str) -> str | None:
        """Why a VPA cannot target ``kind`` in ``group`` (None: it can, or discovery has not
        run)."""
        if not self.complete or self.is_target(Owner(kind, "", group)):
            return None
        where = f"{kind}.{group}" if group else kind
        if (group, kind) not in self.kinds:
            return f"{where} is not a kind this cluster serves"
        return (f"{where} has no /scale subresource: a VPA targets a well-known controller "
                "or a kind that can be scaled")


# The controller of a controller (None: it has none, or it is not known).
ParentOf = Callable[[Owner], Owner | None]


def owner_chain(first: Owner | None, parent_of: ParentOf) -> list[Owner]:
    """Controllers from ``first`` upwards (at most :data:`MAX_DEPTH`, no cycles)."""
    chain: list[Owner] = []
    owner = first
    while owner is not None and len(chain) < MAX_DEPTH and owner not in chain:
        chain.append(owner)
        owner = parent_of(owner)
    return chain


def top_target(chain: list[Owner], discovery: Discovery) -> Owner | None:
    """The top-most owner in ``chain`` that a VPA can target."""
    return next((o for o in reversed(chain) if discovery.is_target(o)), None)


def workload_of(pod_meta: Mapping[str, Any], parent_of: ParentOf, discovery: Discovery) -> str:
    """``Kind/name`` of a pod's workload: its top-most target; else its own controller (a
    kind nothing can target still groups its pods); else the pod itself (``Pod/name``)."""
    chain = owner_chain(controller_ref(pod_meta), parent_of)
    top = top_target(chain, discovery) or (chain[0] if chain else None)
    return str(top) if top is not None else f"{POD}/{pod_meta.get('name', '')}"
