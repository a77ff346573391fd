"""One loop's view of the cluster: VPAs (served, invalid), pods and their workloads.

Lists are paged; a pod's workload is its top controller (see :mod:`targets`). Target
existence is checked only for VPAs that matched no pod: one GET each, or one list of the
kind when many are unmatched.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.pods import pod_info
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.targets import INTERMEDIATE, WELL_KNOWN, PodInfo, TargetIndex
from recommender.owners import POD, ApiKind, Discovery, group_of
from recommender.vpa import Vpa, parse_vpa

log = logging.getLogger(__name__)
UNMATCHED_GETS = 20  # more VPAs without pods than this per kind: list the kind instead
OnError = Callable[[str], None]


@dataclass
class ClusterView:
    """The VPAs and pods of one loop."""

    all_vpas: set[tuple[str, str]]
    served: list[Vpa]
    invalid: dict[tuple[str, str], tuple[Mapping[str, Any], str]]
    index: TargetIndex
    pods: list[PodInfo]
    unknown_kinds: set[tuple[str, str]] = field(default_factory=set)  # targets not served

    def workload_of(self) -> Callable[[str, str], str | None]:
        table = {(p.namespace, p.name): p.workload for p in self.pods}
        return lambda namespace, pod: table.get((namespace, pod))


def serves_unnamed(mode: str, pods: Sequence[PodInfo]) -> bool:
    """Whether VPAs that name no recommender are served: ``always``, ``never``, or ``auto``
    (unless a pod of upstream's vpa-recommender runs, which serves them as ``default``)."""
    if mode == "auto":  # the loop warns about the upstream pod (recommender.cluster.loop)
        return not any(p.upstream_recommender for p in pods)
    return mode == "always"


def load_view(api: KubeApi, settings: RecommenderSettings, on_error: OnError,
              discovery: Discovery | None = None) -> ClusterView:
    """VPAs (served ones parsed, invalid ones with their reason) and pods; ``discovery``
    tells which custom kinds can be scaled (workloads)."""
    ns = settings.namespace
    listed = []  # the VPAs first: an unreachable API fails the loop before anything else
    for obj in api.list(paths.vpas(ns), settings.page_size):
        (obj.get("metadata") or {}).pop("managedFields", None)
        listed.append(obj)
    index = TargetIndex(discovery or Discovery())
    for kind in INTERMEDIATE:  # to climb from pods to their top controllers
        _list_kind(api, settings, on_error, kind, index)
    pods: list[PodInfo] = []
    later: list[tuple[int, Mapping[str, Any]]] = []  # climbing through a pod not seen yet
    for obj in api.list(paths.pods(ns), settings.page_size):
        meta = obj.get("metadata") or {}
        if (meta.get("namespace", ""), meta.get("name", "")) in index.owner_pods:
            index.add(POD, obj)  # a LeaderWorkerSet's leader: owns its workers' StatefulSet
        info = pod_info(obj, index)
        if info is not None:
            if index.through_pod(info.namespace, meta):
                later.append((len(pods), {"name": meta.get("name"),
                                          "ownerReferences": meta.get("ownerReferences")}))
            pods.append(info)
    for i, meta in later:
        pods[i] = replace(pods[i], workload=index.workload(pods[i].namespace, meta))
    unnamed = serves_unnamed(settings.serve_unnamed, pods)
    all_vpas: set[tuple[str, str]] = set()
    served: list[Vpa] = []
    invalid: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
    for obj in listed:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        all_vpas.add(key)
        names = tuple(
            r.get("name", "") for r in (obj.get("spec") or {}).get("recommenders") or []
            if isinstance(r, Mapping)
        )
        if not Vpa(key[0], key[1], None, recommenders=names).served_by(settings.name, unnamed):
            continue
        try:
            served.append(parse_vpa(obj))
        except ValueError as exc:
            invalid[key] = (obj, str(exc))
    unknown: set[tuple[str, str]] = set()
    served = _resolve_targets(served, index, invalid, unknown)
    _check_unmatched_targets(api, settings, on_error, served, pods, index)
    return ClusterView(all_vpas, served, invalid, index, pods, unknown)


def _list_kind(
    api: KubeApi, settings: RecommenderSettings, on_error: OnError, kind: str, index: TargetIndex
) -> None:
    prefix, plural = WELL_KNOWN[kind]
    try:
        for obj in api.list(
            paths.collection(prefix, plural, settings.namespace), settings.page_size
        ):
            index.add(kind, obj)
    except ApiException as exc:
        log.warning("listing %s: %s", plural, exc.reason)
        on_error("list_workloads")


def _check_unmatched_targets(
    api: KubeApi,
    settings: RecommenderSettings,
    on_error: OnError,
    served: list[Vpa],
    pods: list[PodInfo],
    index: TargetIndex,
) -> None:
    """Whether the targets of VPAs that matched no pod exist: one GET each, or one list
    per kind when many are unmatched. Targets with pods are known to exist."""
    with_pods = {(p.namespace, p.workload) for p in pods}
    unmatched: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for vpa in served:
        ref = vpa.target_ref
        if ref is None or (vpa.namespace, ref.workload) in with_pods:
            continue
        known = ref.kind in WELL_KNOWN or _custom(index, ref.kind, ref.api_version) is not None
        if known and not index.exists(vpa.namespace, ref.kind, ref.name):
            unmatched[f"{ref.kind}.{group_of(ref.api_version)}"].append((vpa.namespace, ref.name))
    for kind_group, refs in unmatched.items():
        kind, _, group = kind_group.partition(".")
        custom = _custom(index, kind, group)
        if len(refs) > UNMATCHED_GETS and custom is None:
            _list_kind(api, settings, on_error, kind, index)
            continue
        prefix, plural = (custom.prefix, custom.plural) if custom else WELL_KNOWN[kind]
        scale = "/scale" if custom else ""  # RBAC: any kind's /scale, as upstream
        for namespace, name in refs:
            try:
                obj = api.get(f"{prefix}/namespaces/{namespace}/{plural}/{name}{scale}")
            except ApiException as exc:
                log.warning("reading %s %s/%s: %s", kind, namespace, name, exc.reason)
                on_error("list_workloads")
                continue
            if obj is not None:
                index.add(kind, obj)


def _custom(index: TargetIndex, kind: str, api_version_or_group: str) -> ApiKind | None:
    """The served custom kind (with ``/scale``) a VPA may target, if discovered."""
    group = group_of(api_version_or_group) if "/" in api_version_or_group else \
        api_version_or_group
    found = index.discovery.kinds.get((group, kind))
    return found if found is not None and found.scalable else None


def _resolve_targets(served: list[Vpa], index: TargetIndex,
                     invalid: dict[tuple[str, str], tuple[Mapping[str, Any], str]],
                     unknown: set[tuple[str, str]]) -> list[Vpa]:
    """Each VPA with its target resolved to the workload it stands for (its own top-most
    target, as upstream); a VPA on a kind that cannot be a target goes to ``invalid``, and
    a kind the cluster does not serve to ``unknown`` too."""
    out = []
    for vpa in served:
        ref = vpa.target_ref
        assert ref is not None  # parse_vpa requires it
        reason = index.discovery.unsupported(ref.kind, group_of(ref.api_version))
        if reason is not None:
            if (group_of(ref.api_version), ref.kind) not in index.discovery.kinds:
                unknown.add((group_of(ref.api_version), ref.kind))
            invalid[(vpa.namespace, vpa.name)] = (vpa.raw, f"targetRef {ref.workload}: {reason}")
            continue
        top = index.target_top(vpa.namespace, ref.kind, ref.name, ref.api_version)
        if str(top) != ref.workload:
            vpa = replace(vpa, target_ref=replace(ref, kind=top.kind, name=top.name,
                                                  api_version=index.api_version(top)))
        out.append(vpa)
    return out
