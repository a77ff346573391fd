"""Pod mutation: set container resources from the matching VPA's recommendation.

Pure: the pod, its namespace and the cluster state in; the mutated pod (or None) and the
notes for warnings out. :mod:`webhook.admission` turns that into a patch and a response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.dra import GPU_CLAIMS
from recommender.owners import Owner
from recommender.quantity import CPU, QuantityError, is_gpu_resource
from recommender.vpa import KIND as VPA_KIND
from recommender.vpa import StartupBoost, Vpa
from webhook import limitrange
from webhook.boost import BOOST_ANNOTATION, boost_cpu
from webhook.boost import annotation as boost_annotation
from webhook.claims import apply_claims, claim_option, plan_claims
from webhook.owners import controller_chain
from webhook.sizing import (
    Sizing,
    decimal_of,
    fit_pod,
    format_value,
    quantities,
    size_container,
)
from webhook.state import ClusterState, VpaEntry

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
UPDATES_ANNOTATION = "vpaUpdates"
OBSERVED_ANNOTATION = "vpaObservedContainers"


@dataclass
class PodPlan:
    """The outcome for one pod, and why.

    ``original`` and ``mutated`` hold only what the webhook may change, keyed by the JSON
    pointer of an existing object: ``/metadata`` (its ``annotations``) and
    ``/spec/containers/<i>`` (its ``resources``) of the sized containers.
    """

    mutated: dict[str, dict[str, Any]] | None = None
    original: dict[str, dict[str, Any]] | None = None
    vpa: VpaEntry | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def is_mirror(pod: Mapping[str, Any]) -> bool:
    """A static pod's mirror: the kubelet owns it and the apiserver forbids changing it."""
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def matching_vpa(
    pod: Mapping[str, Any], namespace: str, state: ClusterState
) -> tuple[VpaEntry | None, list[Owner]]:
    """The VPA whose target is the pod's controller (earliest created wins), and the chain."""
    chain = controller_chain(pod, namespace, state)
    if not chain:
        return None, chain
    candidates = [entry for owner in chain for entry in state.vpas_for(namespace, owner)]
    if not candidates:
        return None, chain
    candidates.sort(key=lambda e: (e.vpa.creation_timestamp, e.vpa.name))
    return candidates[0], chain


def _copy(value: Any, depth: int = 3) -> Any:
    """Copy the dicts the plan may edit (resources -> requests/limits, annotations); deeper
    values are never edited, so they are shared (a nested value can be 1,000 levels deep)."""
    if not isinstance(value, dict) or depth == 0:
        return value
    return {k: _copy(v, depth - 1) for k, v in value.items()}


def _parts(pod: Mapping[str, Any], indexes: Iterable[int]) -> dict[str, dict[str, Any]]:
    """The pod's annotations and the given containers' resources, by pointer (not copied)."""
    metadata = pod["metadata"]
    parts: dict[str, dict[str, Any]] = {"/metadata": {}}
    if isinstance(metadata.get("annotations"), dict):
        parts["/metadata"]["annotations"] = metadata["annotations"]
    containers = pod["spec"]["containers"]
    for index in indexes:
        container = containers[index]
        resources = container.get("resources")
        # A null or missing ``resources`` is added whole (``add`` also replaces a null member).
        part = {"resources": resources} if isinstance(resources, dict) else {}
        parts[f"/spec/containers/{index}"] = part
    return parts


def _set(resources: dict[str, Any], field_name: str, values: Mapping[str, float]) -> None:
    """Write values as quantities, keeping an existing string when it is numerically equal."""
    if not values:
        return
    current = resources.setdefault(field_name, {})
    for resource, value in values.items():
        text = format_value(resource, value)
        old = current.get(resource)
        try:
            if old is not None and decimal_of(old) == decimal_of(text):
                continue
        except QuantityError:
            pass
        current[resource] = text


def _describe(index: int, sizing: Sizing) -> str:
    parts = [f"{r} request" for r in sizing.requests] + [f"{r} limit" for r in sizing.limits]
    return f"container {index}: " + ", ".join(parts + sizing.notes)


def plan_pod(
    pod: Mapping[str, Any],
    namespace: str,
    state: ClusterState,
    match: tuple[VpaEntry | None, list[Owner]] | None = None,
    ranges: list[tuple[Mapping[str, Any], ...]] | None = None,
    boost: bool = True,
) -> PodPlan:
    """Decide the pod's new container resources from its VPA (init containers untouched).

    ``match`` (from :func:`matching_vpa`) and ``ranges`` (the namespace's LimitRanges) are
    looked up in ``state`` unless the caller already has them. ``boost``: apply the VPA's CPU
    startup boost (at creation; the updater plans without it).
    """
    if is_mirror(pod):
        return PodPlan(reason="mirror pod")
    entry, chain = match if match is not None else matching_vpa(pod, namespace, state)
    if entry is None:
        return PodPlan(reason="no VPA targets " + (str(chain[-1]) if chain else "a bare pod"))
    vpa = entry.vpa
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        return PodPlan(vpa=entry, reason="spec.containers is not a list of objects")
    boosts = {
        i: b for i, c in enumerate(containers) if boost and (b := vpa.boost_for(c.get("name", "")))
    }
    if vpa.update_mode == "Off" and not boosts:
        return PodPlan(vpa=entry, reason=f"{VPA_KIND} {vpa.key} has updateMode Off")
    if not entry.recommendations and not boosts:
        return PodPlan(vpa=entry, reason=f"{VPA_KIND} {vpa.key} has no recommendation yet")
    ranges = ranges if ranges is not None else state.limit_ranges(namespace)
    container_bounds = limitrange.bounds(ranges, limitrange.CONTAINER)
    sizings: dict[int, Sizing] = {}
    others: list[Mapping[str, Any]] = []
    recommended: list[int] = []
    sizing_on = vpa.update_mode != "Off"
    for index, container in enumerate(containers):
        name = container.get("name", "")
        if not isinstance(name, str):  # the apiserver never sends one; leave it alone
            others.append(container.get("resources") or {})
            continue
        policy = vpa.policy_for(name)
        rec = entry.recommendations.get(name) if sizing_on else None
        if rec is None or (policy is not None and policy.mode == "Off"):
            if index not in boosts:
                others.append(container.get("resources") or {})
            continue
        recommended.append(index)
        sizing = size_container(container, rec.get("target") or {}, policy, container_bounds)
        if sizing.requests:
            sizings[index] = sizing
        elif index not in boosts:
            others.append(container.get("resources") or {})
    pod_bounds = limitrange.bounds(ranges, limitrange.POD)
    if pod_bounds and sizings:
        fit_pod(sizings, others, pod_bounds)
    boosted = _boost(containers, boosts, sizings, vpa, container_bounds)
    option, option_note = claim_option(entry.gpu_claims, state.gpu_claims_label(namespace))
    if not sizings and not (option and recommended):
        return PodPlan(vpa=entry, reason=f"{VPA_KIND} {vpa.key} recommends none of the containers")
    original = _parts(pod, sorted({*sizings, *recommended}))
    mutated = {pointer: _copy(part) for pointer, part in original.items()}
    for index, sizing in sizings.items():
        resources = mutated[f"/spec/containers/{index}"].setdefault("resources", {})
        for field_name in ("requests", "limits"):
            if not isinstance(resources.get(field_name, {}), dict):
                resources[field_name] = {}
        _set(resources, "requests", sizing.requests)
        _set(resources, "limits", sizing.limits)
    claim_notes = [option_note] if option_note else []
    if option and vpa.target_ref is not None:
        claim_notes += _claim_gpus(pod, option, vpa.target_ref.name, recommended, sizings,
                                   (original, mutated), state.claim_templates(namespace))
    if not sizings and not claim_notes:
        return PodPlan(vpa=entry, reason=f"{VPA_KIND} {vpa.key} recommends none of the containers")
    annotations = mutated["/metadata"].setdefault("annotations", {})
    if sizings:
        annotations[UPDATES_ANNOTATION] = f"Pod resources updated by {vpa.name}: " + "; ".join(
            _describe(i, s) for i, s in sorted(sizings.items())
        )
    if claim_notes:
        annotations[GPU_CLAIMS] = "; ".join(claim_notes)
    annotations[OBSERVED_ANNOTATION] = ", ".join(
        n for c in containers if isinstance(n := c.get("name", ""), str))
    if boosted:
        annotations[BOOST_ANNOTATION] = boost_annotation(boosted)
    notes = [
        f"{containers[i].get('name', i)}: {n}" for i, s in sorted(sizings.items()) for n in s.notes
    ]
    reason = f"sized by {VPA_KIND} {vpa.key}"
    return PodPlan(mutated=mutated, original=original, vpa=entry, reason=reason, notes=notes)


def _boost(
    containers: list[Mapping[str, Any]],
    boosts: Mapping[int, StartupBoost],
    sizings: dict[int, Sizing],
    vpa: Vpa,
    bounds: limitrange.Bounds,
) -> dict[str, dict[str, str]]:
    """Apply each container's startup boost to its sizing (created when it had none)."""
    entries: dict[str, dict[str, str]] = {}
    for index, boost in boosts.items():
        container = containers[index]
        resources = container.get("resources") or {}
        old_request = quantities(resources.get("requests")).get(CPU)
        old_limit = quantities(resources.get("limits")).get(CPU)
        policy = vpa.policy_for(str(container.get("name", "")))
        controlled_values = policy.controlled_values if policy else "RequestsAndLimits"
        sizing = sizings.get(index) or Sizing()
        entry = boost_cpu(sizing, old_request, old_limit, boost, controlled_values,
                          bounds.max.get(CPU))  # fmt: skip
        if entry is not None:
            sizings[index] = sizing
            entries[str(container.get("name", ""))] = entry
    return entries


def _claim_gpus(
    pod: Mapping[str, Any],
    option: str,
    workload: str,
    recommended: list[int],
    sizings: dict[int, Sizing],
    parts: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
    templates: frozenset[str],
) -> list[str]:
    """Swap the recommended containers' extended GPU resources for their claim templates
    (:mod:`webhook.claims`) in the ``(original, mutated)`` parts; notes on what was done."""
    original, mutated = parts
    containers = pod["spec"]["containers"]
    resources_of = {i: mutated[f"/spec/containers/{i}"].get("resources") or {} for i in recommended}
    claims, notes = plan_claims(pod, recommended, resources_of, workload, option, templates)
    if not claims:
        return notes
    spec = pod["spec"]
    original["/spec"] = ({"resourceClaims": spec["resourceClaims"]}
                         if isinstance(spec.get("resourceClaims"), list) else {})
    mutated["/spec"] = dict(original["/spec"])
    apply_claims(mutated["/spec"], {
        c.index: mutated[f"/spec/containers/{c.index}"].setdefault("resources", {}) for c in claims
    }, claims)
    for c in claims:  # the description names what the container is given
        sizing = sizings.get(c.index)
        for values in (sizing.requests, sizing.limits) if sizing else ():
            for resource in [r for r in values if is_gpu_resource(r)]:
                del values[resource]
    return notes + [f"{containers[c.index].get('name', c.index)}: GPUs from "
                    f"ResourceClaimTemplate {c.template}" for c in claims]
