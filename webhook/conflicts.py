"""HPA/VPA conflicts: the same workload scaled by an HPA on cpu/memory and sized by a VPA.

Also: two VPAs for one workload. Messages name both objects, the resource in conflict and
the ways out, because kubectl shows them to the person who applied the object.
"""

from __future__ import annotations

from collections.abc import Iterable

from recommender.vpa import ACTIVE_UPDATE_MODES, Vpa
from webhook.hpa import FORECAST_METRIC, Hpa, ResourceMetric, conflicting_metrics

_RESOURCES = ("cpu", "memory")


def _controls(vpa: Vpa, metric: ResourceMetric) -> bool:
    """Whether an active VPA sets ``metric.resource`` on the container(s) the metric reads."""
    if vpa.update_mode not in ACTIVE_UPDATE_MODES:
        return False
    if metric.container is not None:
        policies = [vpa.policy_for(metric.container)]
    else:
        # A pod-wide metric reads every container: any container the VPA sizes counts.
        policies = list(vpa.container_policies) or [None]
        if vpa.policy_for("\0no-such-container") is None:
            policies.append(None)
    for policy in policies:
        if policy is None:
            if metric.resource in _RESOURCES:
                return True
        elif policy.mode != "Off" and metric.resource in policy.controlled_resources:
            return True
    return False


def _same_target(vpa: Vpa, hpa: Hpa) -> bool:
    ref = vpa.target_ref
    return ref is not None and (ref.kind, ref.name) == (hpa.target_kind, hpa.target_name)


def _ways_out(metric: ResourceMetric, hpa: Hpa) -> tuple[str, str]:
    """(VPA-side fixes, the HPA-side fix) for a conflict on ``metric``."""
    used = {m.resource for m in conflicting_metrics(hpa)}
    others = ", ".join(r for r in _RESOURCES if r not in used)
    off = "set its updateMode to Off"
    hpa_fix = f"scale the HPA on a custom or external metric such as {FORECAST_METRIC}"
    if not others:
        return "set the VPA's updateMode to Off", hpa_fix
    scope = f" for container {metric.container}" if metric.container else ""
    vpa_fixes = f"set the VPA's controlledResources{scope} to [{others}], or {off}"
    return vpa_fixes, hpa_fix


def _what(vpa: Vpa, metric: ResourceMetric) -> str:
    ref = vpa.target_ref
    workload = f"{ref.kind}/{ref.name}" if ref else "?"
    if metric.container:
        return f"{metric.resource} of container {metric.container} in {workload}"
    return f"{metric.resource} of {workload}"


def hpa_conflict(hpa: Hpa, vpas: Iterable[Vpa]) -> str | None:
    """Denial message for an HPA that fights an existing VPA, else None."""
    for metric in conflicting_metrics(hpa):
        for vpa in sorted(vpas, key=lambda v: (v.creation_timestamp, v.name)):
            if _same_target(vpa, hpa) and _controls(vpa, metric):
                vpa_fixes, hpa_fix = _ways_out(metric, hpa)
                return (
                    f"HorizontalPodAutoscaler {hpa.key} scales {hpa.workload} on "
                    f"{metric.describe()}, but VerticalPodAutoscaler {vpa.key} (updateMode "
                    f"{vpa.update_mode}) also controls {_what(vpa, metric)}. "
                    f"{hpa_fix[0].upper()}{hpa_fix[1:]}, {vpa_fixes}."
                )
    return None


def vpa_conflict(vpa: Vpa, hpas: Iterable[Hpa]) -> str | None:
    """Denial message for a VPA that fights an existing HPA, else None."""
    for hpa in sorted(hpas, key=lambda h: h.name):
        if not _same_target(vpa, hpa):
            continue
        for metric in conflicting_metrics(hpa):
            if _controls(vpa, metric):
                vpa_fixes, hpa_fix = _ways_out(metric, hpa)
                return (
                    f"VerticalPodAutoscaler {vpa.key} (updateMode {vpa.update_mode}) controls "
                    f"{_what(vpa, metric)}, but HorizontalPodAutoscaler {hpa.key} already "
                    f"scales {hpa.workload} on {metric.describe()}. "
                    f"{vpa_fixes[0].upper()}{vpa_fixes[1:]}, or {hpa_fix}."
                )
    return None


def duplicate_vpa(vpa: Vpa, others: Iterable[Vpa]) -> str | None:
    """Denial message for a second VPA on the same workload, else None."""
    ref = vpa.target_ref
    if ref is None:
        return None
    for other in sorted(others, key=lambda v: (v.creation_timestamp, v.name)):
        if other.name == vpa.name or other.target_ref is None:
            continue
        if (other.target_ref.kind, other.target_ref.name) == (ref.kind, ref.name):
            return (
                f"VerticalPodAutoscaler {vpa.key} targets {ref.kind}/{ref.name}, which "
                f"VerticalPodAutoscaler {other.key} already targets; two VPAs for one workload "
                f"give undefined results. Delete one of them or target another workload."
            )
    return None


def forecast_note(hpa: Hpa, vpas: Iterable[Vpa]) -> str | None:
    """Why an HPA on ``tidal_forecast`` and an active VPA on the same workload are compatible
    (a warning kubectl prints), else None."""
    if FORECAST_METRIC not in hpa.external:
        return None
    for vpa in sorted(vpas, key=lambda v: (v.creation_timestamp, v.name)):
        if _same_target(vpa, hpa) and vpa.update_mode in ACTIVE_UPDATE_MODES:
            # A warning: kubectl shows up to 120 characters.
            return (f"{FORECAST_METRIC} is absolute demand: HPA {hpa.name} and VPA {vpa.name} "
                    "are compatible (VPA requests do not move it)")
    return None
