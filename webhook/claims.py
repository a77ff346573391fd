"""GPU claims at pod creation: extended GPU resources swapped for a DRA ResourceClaimTemplate.

Where a VPA (annotation) or its namespace (label) sets ``tidal.dev/gpu-claims`` to ``gpu`` or
``shared``, each sized container that asks for ``nvidia.com/gpu`` (or a MIG or shared GPU) gets
the claim template ``report --format dra`` wrote for it instead: the pod's
``spec.resourceClaims`` names the template and the container's ``resources.claims`` the claim;
the extended resource leaves its requests and limits. Without that template in the namespace
the container keeps its extended resource (requests == limits), and a warning says why: a pod
pointing at a missing template would never start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recommender.dra import CLAIM_OPTIONS, GPU_CLAIMS, claim_name, template_name
from recommender.quantity import is_gpu_resource


@dataclass(frozen=True)
class GpuClaim:
    """One container's claim: its index, the pod's claim name and the template."""

    index: int
    claim: str
    template: str


def claim_option(vpa_value: str, namespace_value: str) -> tuple[str | None, str | None]:
    """The option in force (the VPA's annotation over the namespace's label) and a note when
    the value is not one of :data:`~recommender.dra.CLAIM_OPTIONS`."""
    value = vpa_value or namespace_value
    if not value:
        return None, None
    if value not in CLAIM_OPTIONS:
        valid = " or ".join(repr(o) for o in CLAIM_OPTIONS)
        return None, f"{GPU_CLAIMS}={value!r} ignored: use {valid}"
    return value, None


def _gpu_resources(resources: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for field_name in ("requests", "limits"):
        values = resources.get(field_name)
        if isinstance(values, Mapping):
            found.update(str(r) for r in values if is_gpu_resource(str(r)))
    return found


def plan_claims(
    pod: Mapping[str, Any],
    indexes: list[int],
    resources: Mapping[int, Mapping[str, Any]],
    workload: str,
    option: str,
    templates: frozenset[str],
) -> tuple[list[GpuClaim], list[str]]:
    """Claims for the containers at ``indexes`` whose ``resources`` (as they will be) hold
    extended GPU resources, and notes for those whose template is missing."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    taken = {c.get("name") for c in spec.get("resourceClaims") or [] if isinstance(c, Mapping)}
    claims, notes = [], []
    for index in indexes:
        name = str(containers[index].get("name", ""))
        if not _gpu_resources(resources[index]):
            continue
        template = template_name(workload, name, option)
        claim = claim_name(name)
        if template not in templates:
            notes.append(f"{name}: kept its GPU resources: no ResourceClaimTemplate {template} "
                         f"in the namespace (tidal-recommender report --format dra writes it)")
        elif claim not in taken:
            claims.append(GpuClaim(index, claim, template))
    return claims, notes


def apply_claims(spec_part: dict[str, Any], resources: Mapping[int, dict[str, Any]],
                 claims: list[GpuClaim]) -> None:
    """Move each claim's container from extended GPU resources to the claim (in place)."""
    added = [{"name": c.claim, "resourceClaimTemplateName": c.template} for c in claims]
    spec_part["resourceClaims"] = [*(spec_part.get("resourceClaims") or []), *added]
    for c in claims:
        res = resources[c.index]
        for field_name in ("requests", "limits"):
            values = res.get(field_name)
            if isinstance(values, dict):
                res[field_name] = {k: v for k, v in values.items() if not is_gpu_resource(k)}
        res["claims"] = [*(res.get("claims") or []), {"name": c.claim}]
