"""One loop's view of the cluster: VPAs (served, invalid), pods and their workloads.

Lists are paged; a pod's workload is its top controller (see :mod:`targets`). Target
existence is checked only for VPAs that matched no pod: one GET each, or one list of the
kind when many are unmatched.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.pods import pod_info
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.targets import INTERMEDIATE, WELL_KNOWN, PodInfo, TargetIndex
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

    def workload_of(self) -> Callable[[str, str], str | None]:
        table = {(p.namespace, p.name): p.workload for p in self.pods}
        return lambda namespace, pod: table.get((namespace, pod))


def serves_unnamed(mode: str, pods: Sequence[PodInfo]) -> bool:
    """Whether VPAs that name no recommender are served: ``always``, ``never``, or ``auto``
    (unless a pod of upstream's vpa-recommender runs, which serves them as ``default``)."""
    if mode == "auto":  # the loop warns about the upstream pod (recommender.cluster.loop)
        return not any(p.upstream_recommender for p in pods)
    return mode == "always"


def load_view(api: KubeApi, settings: RecommenderSettings, on_error: OnError) -> ClusterView:
    """VPAs (served ones parsed, invalid ones with their reason) and pods."""
    ns = settings.namespace
    listed = []  # the VPAs first: an unreachable API fails the loop before anything else
    for obj in api.list(paths.vpas(ns), settings.page_size):
        (obj.get("metadata") or {}).pop("managedFields", None)
        listed.append(obj)
    index = TargetIndex()
    for kind in INTERMEDIATE:  # to climb from pods to their top controllers
        _list_kind(api, settings, on_error, kind, index)
    pods = []
    for obj in api.list(paths.pods(ns), settings.page_size):
        info = pod_info(obj, index)
        if info is not None:
            pods.append(info)
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
    _check_unmatched_targets(api, settings, on_error, served, pods, index)
    return ClusterView(all_vpas, served, invalid, index, pods)


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
        if ref.kind in WELL_KNOWN and not index.exists(vpa.namespace, ref.kind, ref.name):
            unmatched[ref.kind].append((vpa.namespace, ref.name))
    for kind, refs in unmatched.items():
        if len(refs) > UNMATCHED_GETS:
            _list_kind(api, settings, on_error, kind, index)
            continue
        prefix, plural = WELL_KNOWN[kind]
        for namespace, name in refs:
            try:
                obj = api.get(f"{prefix}/namespaces/{namespace}/{plural}/{name}")
            except ApiException as exc:
                log.warning("reading %s %s/%s: %s", kind, namespace, name, exc.reason)
                on_error("list_workloads")
                continue
            if obj is not None:
                index.add(kind, obj)
