"""The cluster state the admission handlers read: an injectable, thread-safe cache.

Watch threads (:mod:`webhook.watch`) fill it in a server; tests and ``--state-file`` fill it
from objects shaped like the API's. Handlers read it, with one exception: a pod that owns a
controller (a LeaderWorkerSet's leader), not yet fetched in the background, is read once at
admission (:meth:`ClusterState.fetch_owner_pod`).
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.dra import GPU_CLAIMS
from recommender.owners import POD, Owner, controller_ref
from recommender.vpa import KIND as VPA_KIND
from recommender.vpa import Vpa, parse_vpa
from webhook.hpa import KIND as HPA_KIND
from webhook.hpa import Hpa, parse_hpa

log = logging.getLogger(__name__)

LIMIT_RANGE = "LimitRange"
REPLICA_SET = "ReplicaSet"
JOB = "Job"
STATEFUL_SET = "StatefulSet"
DEPLOYMENT = "Deployment"
DAEMON_SET = "DaemonSet"
NAMESPACE = "Namespace"  # their GPU_CLAIMS label only
CLAIM_TEMPLATE = "ResourceClaimTemplate"  # names only (resource.k8s.io/v1, where served)
# Controllers whose own controller (to climb from pods to their workload, recommender.owners)
# and container names (to decide HPA/VPA conflicts, webhook.conflicts) are kept; pods too, but
# only those that own a controller (a LeaderWorkerSet's leader pod owns its workers'
# StatefulSet), fetched one by one (webhook.watch).
OWNER_KINDS = (REPLICA_SET, JOB, STATEFUL_SET, DEPLOYMENT, DAEMON_SET)
# Every kind the cache lists and watches.
KINDS = (VPA_KIND, HPA_KIND, LIMIT_RANGE, *OWNER_KINDS, NAMESPACE, CLAIM_TEMPLATE)
CLUSTER = ""  # the bucket of cluster-scoped objects (namespaces)
OWNER_POD_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class VpaEntry:
    """A VPA with its ``status.recommendation.containerRecommendations`` by container name."""

    vpa: Vpa
    recommendations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gpu_claims: str = ""  # the VPA's GPU_CLAIMS annotation


def vpa_entry(obj: Mapping[str, Any]) -> VpaEntry:
    """Parse a VPA object with its recommendation; raises ValueError when invalid."""
    vpa = parse_vpa(obj)
    recs: dict[str, Mapping[str, Any]] = {}
    status = obj.get("status") or {}
    recommendation = status.get("recommendation") if isinstance(status, Mapping) else None
    for entry in (recommendation or {}).get("containerRecommendations") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("containerName"), str):
            recs[entry["containerName"]] = entry
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return VpaEntry(vpa, recs, str(annotations.get(GPU_CLAIMS) or ""))


@dataclass(frozen=True)
class Workload:
    """What the cache keeps of a controller (or an owner pod): its own controller and the
    names of the containers of the pods it makes (its pod template's; a pod's own)."""

    controller: Owner | None
    containers: tuple[str, ...] = ()


def workload_entry(kind: str, obj: Mapping[str, Any]) -> Workload:
    """Reduce a controller object (or a pod, ``kind`` POD) to a :class:`Workload`."""
    spec = obj.get("spec") or {}
    if kind != POD:
        spec = ((spec.get("template") or {}) if isinstance(spec, Mapping) else {}).get("spec") \
            or {}
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    # Interned: a cluster keeps ~10 ReplicaSets per Deployment, all with the same names.
    names = tuple(sys.intern(c["name"]) for c in containers or []
                  if isinstance(c, Mapping) and isinstance(c.get("name"), str))
    return Workload(controller_ref(obj.get("metadata") or {}), names)


def _reduce(kind: str, obj: Mapping[str, Any]) -> Any:
    """What the cache keeps of an object (small: clusters have many ReplicaSets)."""
    if kind == VPA_KIND:
        return vpa_entry(obj)
    if kind == HPA_KIND:
        version = str(obj.get("apiVersion") or "autoscaling/v2").rsplit("/", 1)[-1]
        return parse_hpa(obj, version)
    if kind == LIMIT_RANGE:
        limits = (obj.get("spec") or {}).get("limits") or []
        return tuple(item for item in limits if isinstance(item, Mapping))
    if kind == NAMESPACE:
        return str(((obj.get("metadata") or {}).get("labels") or {}).get(GPU_CLAIMS) or "")
    if kind == CLAIM_TEMPLATE:
        return True
    return workload_entry(kind, obj)


def _by_target(bucket: Mapping[str, VpaEntry]) -> dict[tuple[str, str], list[VpaEntry]]:
    index: dict[tuple[str, str], list[VpaEntry]] = {}
    for entry in bucket.values():
        ref = entry.vpa.target_ref
        if ref is not None:
            index.setdefault((ref.kind, ref.name), []).append(entry)
    return index


def _key(kind: str, obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    default = CLUSTER if kind == NAMESPACE else "default"
    return str(meta.get("namespace") or default), str(meta.get("name") or "")


class ClusterState:
    """Objects by kind and namespace, plus which kinds have been listed (synced)."""

    def __init__(self, *, enabled: bool = True) -> None:
        """``enabled=False``: no cluster is configured; every lookup is empty."""
        self.enabled = enabled
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, dict[str, Any]]] = {
            kind: {} for kind in (*KINDS, POD)}
        self._synced: set[str] = set()
        self._updated: dict[str, float] = {}
        # VPAs by namespace and target (kind, name): the pod webhook's lookup.
        self._vpa_targets: dict[str, dict[tuple[str, str], list[VpaEntry]]] = {}
        # Pods named as the controller of a cached controller, not yet fetched (webhook.watch).
        self.wanted_pods: set[tuple[str, str]] = set()
        # Reads one pod from the API (set by webhook.watch); see fetch_owner_pod.
        self.read_pod: Callable[[str, str], Mapping[str, Any] | None] | None = None
        self._pod_reads: dict[tuple[str, str], float] = {}

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> ClusterState:
        """A synced state holding ``objects`` (dicts with ``kind``); other kinds are skipped."""
        state = cls()
        for obj in objects:
            if obj.get("kind") in (*KINDS, POD):
                state.upsert(str(obj["kind"]), obj)
        for kind in KINDS:
            state.mark_synced(kind)
        return state

    # -- writers (watch threads) --------------------------------------------------------------
    def replace(self, kind: str, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace every object of ``kind`` (after a list) and mark the kind synced."""
        fresh: dict[str, dict[str, Any]] = {}
        for obj in objects:
            reduced = self._reduced(kind, obj)
            if reduced is not None:
                namespace, name = _key(kind, obj)
                fresh.setdefault(namespace, {})[name] = reduced
        with self._lock:
            self._objects[kind] = fresh
            self._want_owner_pods(kind, fresh)
            if kind == VPA_KIND:
                self._vpa_targets = {ns: _by_target(bucket) for ns, bucket in fresh.items()}
            self._synced.add(kind)
            self._updated[kind] = time.time()

    def upsert(self, kind: str, obj: Mapping[str, Any]) -> None:
        """Add or update one object."""
        reduced = self._reduced(kind, obj)
        if reduced is None:
            self.delete(kind, obj)
            return
        namespace, name = _key(kind, obj)
        with self._lock:
            # Copy-on-write per namespace: readers copy a bucket without taking the lock.
            bucket = dict(self._objects[kind].get(namespace, {}))
            bucket[name] = reduced
            self._objects[kind][namespace] = bucket
            self._want_owner_pods(kind, {namespace: {name: reduced}})
            if kind == VPA_KIND:
                self._vpa_targets[namespace] = _by_target(bucket)
            self._updated[kind] = time.time()

    def delete(self, kind: str, obj: Mapping[str, Any]) -> None:
        """Forget one object."""
        namespace, name = _key(kind, obj)
        with self._lock:
            bucket = dict(self._objects[kind].get(namespace, {}))
            bucket.pop(name, None)
            self._objects[kind][namespace] = bucket
            if kind == VPA_KIND:
                self._vpa_targets[namespace] = _by_target(bucket)
            self._updated[kind] = time.time()

    def _want_owner_pods(self, kind: str, objects: Mapping[str, Mapping[str, Any]]) -> None:
        """Note the pods that own cached controllers and are not cached yet (lock held)."""
        if kind not in OWNER_KINDS:
            return
        pods = self._objects[POD]
        for namespace, bucket in objects.items():
            for workload in bucket.values():
                owner = workload.controller
                if owner is not None and owner.kind == POD and owner.group == "" \
                        and owner.name not in pods.get(namespace, {}):
                    self.wanted_pods.add((namespace, owner.name))

    def fetch_owner_pod(self, namespace: str, name: str) -> Owner | None:
        """The controller of a pod that owns a cached controller, read now because the
        background fetch has not read it yet (a LeaderWorkerSet's workers are created right
        after their StatefulSet). Each pod is read at most once per
        :data:`OWNER_POD_RETRY_SECONDS`; a failed read is None."""
        key = (namespace, name)
        now = time.monotonic()
        if self.read_pod is None or name in self._objects[POD].get(namespace, {}) \
                or now - self._pod_reads.get(key, -math.inf) < OWNER_POD_RETRY_SECONDS:
            return None
        self._pod_reads[key] = now
        try:
            obj = self.read_pod(namespace, name)
        except Exception as exc:  # the API failed: the pod is admitted as its chain allows
            log.info("owner pod %s/%s not read: %s", namespace, name, exc)
            return None
        if obj is None:
            return None
        self.upsert(POD, obj)
        return self.controller_of(namespace, Owner(POD, name))

    def take_wanted_pods(self) -> list[tuple[str, str]]:
        """The owner pods to fetch (each handed out once)."""
        with self._lock:
            wanted, self.wanted_pods = sorted(self.wanted_pods), set()
        return wanted

    def mark_synced(self, kind: str) -> None:
        """Record that ``kind`` has been fully listed."""
        with self._lock:
            self._synced.add(kind)
            self._updated[kind] = time.time()

    def touch(self, kind: str) -> None:
        """Record that ``kind`` is known to be current (a watch event or bookmark arrived)."""
        self._updated[kind] = time.time()

    @staticmethod
    def _reduced(kind: str, obj: Mapping[str, Any]) -> Any:
        try:
            return _reduce(kind, obj)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            namespace, name = _key(kind, obj)
            log.warning("ignoring invalid %s %s/%s: %s", kind, namespace, name, exc)
            return None

    # -- readers (admission handlers) ---------------------------------------------------------
    @property
    def synced(self) -> bool:
        """True once every kind has been listed."""
        return self.enabled and len(self._synced) == len(KINDS)

    def is_synced(self, kind: str) -> bool:
        """Whether ``kind`` has been listed."""
        return kind in self._synced

    @property
    def ready(self) -> bool:
        """For /readyz: synced, or serving without a cluster at all."""
        return self.synced or not self.enabled

    def age_seconds(self, kind: str, now: float | None = None) -> float | None:
        """Seconds since ``kind`` was last known current (None: never listed)."""
        updated = self._updated.get(kind)
        return None if updated is None else (now or time.time()) - updated

    def _values(self, kind: str, namespace: str) -> list[Any]:
        return list(self._objects[kind].get(namespace, {}).values())

    def vpas(self, namespace: str) -> list[VpaEntry]:
        """The VPAs of a namespace."""
        return self._values(VPA_KIND, namespace)

    def vpas_for(self, namespace: str, target: Owner) -> list[VpaEntry]:
        """The VPAs of a namespace whose ``targetRef`` is ``target`` (kind and name)."""
        return self._vpa_targets.get(namespace, {}).get((target.kind, target.name), [])

    def hpas(self, namespace: str) -> list[Hpa]:
        """The HPAs of a namespace."""
        return self._values(HPA_KIND, namespace)

    def limit_ranges(self, namespace: str) -> list[tuple[Mapping[str, Any], ...]]:
        """The ``spec.limits`` lists of a namespace's LimitRanges."""
        return self._values(LIMIT_RANGE, namespace)

    def workload(self, namespace: str, kind: str, name: str) -> Workload | None:
        """A cached controller or owner pod (None: not present, or its kind not cached)."""
        if kind not in OWNER_KINDS and kind != POD:
            return None
        result: Workload | None = self._objects[kind].get(namespace, {}).get(name)
        return result

    def controller_of(self, namespace: str, owner: Owner) -> Owner | None:
        """The controller of a cached controller or owner pod (None: none, or not cached)."""
        workload = self.workload(namespace, owner.kind, owner.name)
        return workload.controller if workload is not None else None

    def gpu_claims_label(self, namespace: str) -> str:
        """The namespace's GPU_CLAIMS label ("" when unset or unknown)."""
        value: str = self._objects[NAMESPACE].get(CLUSTER, {}).get(namespace, "")
        return value

    def claim_templates(self, namespace: str) -> frozenset[str]:
        """Names of the namespace's ResourceClaimTemplates."""
        return frozenset(self._objects[CLAIM_TEMPLATE].get(namespace, {}))

    def knows(self, kind: str, namespace: str, name: str) -> bool:
        """Whether an object of a cached owner kind is present."""
        return name in self._objects.get(kind, {}).get(namespace, {})
