"""HPA/VPA conflicts: the same workload scaled by an HPA on cpu/memory and sized by a VPA.

Decided from the target's pod template, as the VPA would size it: a container is sized by
its exact-name policy, else the ``*`` policy, else the defaults (cpu and memory); ``mode:
Off`` sizes nothing, and ``controlledResources`` defaults to cpu and memory. A ``Resource``
metric reads every container, a ``ContainerResource`` metric only its own. Kinds the cache
does not hold (CronJob, Rollout, ...) and workloads not in it yet keep the conservative
assumption: containers other than those the policies name exist.

Also: two VPAs for one workload. Messages name both objects, the resource in conflict and
the precise fix, because kubectl shows them to the person who applied the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from recommender.vpa import ACTIVE_UPDATE_MODES, DEFAULT_CONTROLLED_RESOURCES, ContainerPolicy, Vpa
from webhook.hpa import FORECAST_METRIC, Hpa, ResourceMetric, conflicting_metrics
from webhook.state import OWNER_KINDS, ClusterState

OTHERS = "\0others"  # the containers no policy names, when the template is unknown
VPA = "<VPA>"  # in a fix: "the VPA" in a denial, "VPA <name>" in a warning
_HPA_FIX = f"scale the HPA on a custom or external metric such as {FORECAST_METRIC}"


@dataclass(frozen=True)
class Template:
    """The containers of the target's pods as the cache knows them (None: unknown, and
    ``why`` says why)."""

    containers: tuple[str, ...] | None
    why: str = ""


def template_of(state: ClusterState, namespace: str, kind: str, name: str) -> Template:
    """The pod template of workload ``kind/name`` from the cache."""
    if kind not in OWNER_KINDS:
        return Template(None, f"Tidal does not cache {kind} objects, so it cannot see the "
                              f"containers of {kind}/{name}")
    workload = state.workload(namespace, kind, name)
    if workload is None:
        return Template(None, f"{kind}/{name} is not in Tidal's cache yet, so Tidal cannot "
                              "see its containers")
    return Template(workload.containers)


@dataclass(frozen=True)
class Conflict:
    """An HPA and a VPA in conflict: which containers, for which resources, and the fixes."""

    hpa: Hpa
    vpa: Vpa
    metrics: tuple[ResourceMetric, ...]  # the HPA's metrics in conflict
    sized: tuple[tuple[str, tuple[str, ...]], ...]  # (container or OTHERS, resources)
    defaulted: tuple[str, ...]  # containers sized by default (no exact and no * policy)
    vpa_fixes: tuple[str, ...]  # each a change to the VPA that removes the conflict
    why: str = ""  # why the containers are assumed ("" when the template is known)

    def _hpa_side(self) -> str:
        return " and ".join(m.describe() for m in self.metrics)

    def _vpa_side(self) -> str:
        """``memory of container sidecar in Deployment/web (...)``."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for container, resources in self.sized:
            groups.setdefault(resources, []).append(container)
        parts = []
        for resources, containers in groups.items():
            named = [c for c in containers if c != OTHERS]
            if OTHERS in containers:
                listed = named_policies(self.vpa)
                whom = f"any container other than {_and(listed)}" if listed else \
                    "every container"
                if named:
                    whom = f"container{_s(named)} {_and(named)} and {whom}"
            else:
                whom = f"container{_s(named)} {_and(named)}"
            parts.append(f"{_and(list(resources))} of {whom}")
        text = f"{_and(parts)} in {self.hpa.workload}"
        notes = []
        if self.why:
            notes.append(self.why)
        names = [c for c in self.defaulted if c != OTHERS]
        if not self.vpa.container_policies and self.defaulted:
            notes.append("the VPA has no containerPolicies, so it sizes cpu and memory by "
                         "default")
        elif names:
            one = len(names) == 1
            notes.append(f"{_and(names)} {'has' if one else 'have'} no containerPolicies "
                         f"entry, so the VPA sizes {'its' if one else 'their'} cpu and memory "
                         "by default")
        elif self.defaulted:
            notes.append("no containerPolicies entry names them, so the VPA sizes their cpu "
                         "and memory by default")
        return f"{text} ({'; '.join(notes)})" if notes else text

    def fixes(self, vpa: str = "the VPA") -> list[str]:
        """The changes to the VPA that end the conflict (empty: only updateMode Off does)."""
        return [fix.replace(VPA, vpa) for fix in self.vpa_fixes]

    def _fixes(self) -> str:
        if not self.vpa_fixes:
            return "or set the VPA's updateMode to Off"
        return f"{_and(self.fixes())}, or set its updateMode to Off"

    def hpa_denial(self) -> str:
        """The denial of the HPA (the VPA existed)."""
        vpa_fixes = self._fixes()
        return (
            f"HorizontalPodAutoscaler {self.hpa.key} scales {self.hpa.workload} on "
            f"{self._hpa_side()}, but VerticalPodAutoscaler {self.vpa.key} (updateMode "
            f"{self.vpa.update_mode}) also controls {self._vpa_side()}. "
            f"{_HPA_FIX[0].upper()}{_HPA_FIX[1:]}, {vpa_fixes}."
        )

    def vpa_denial(self) -> str:
        """The denial of the VPA (the HPA existed)."""
        vpa_fixes = self._fixes().removeprefix("or ")
        return (
            f"VerticalPodAutoscaler {self.vpa.key} (updateMode {self.vpa.update_mode}) controls "
            f"{self._vpa_side()}, but HorizontalPodAutoscaler {self.hpa.key} already "
            f"scales {self.hpa.workload} on {self._hpa_side()}. "
            f"{vpa_fixes[0].upper()}{vpa_fixes[1:]}, or {_HPA_FIX}."
        )

    def warnings(self) -> list[str]:
        """Short lines (kubectl prints each as ``Warning: ...``) for an update allowed because
        the conflict was there before it."""
        resources = sorted({r for _, rs in self.sized for r in rs})
        vpa, hpa = self.vpa.name, self.hpa.name
        lines = [
            f"HPA {hpa} scales {self.hpa.workload} on {_and(resources)}, which VPA {vpa} "
            "also sizes: they conflict",
            "allowed: they conflicted before this update too (a new conflict is denied)",
        ]
        lines += [f"fix: {fix}" for fix in self.fixes(f"VPA {vpa}")]
        lines.append(f"{'or ' if self.vpa_fixes else 'fix: '}set VPA {vpa}'s updateMode to Off, "
                     f"or scale HPA {hpa} on a custom or external metric ({FORECAST_METRIC})")
        return lines


def _s(items: list[str]) -> str:
    return "s" if len(items) > 1 else ""


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def named_policies(vpa: Vpa) -> list[str]:
    """The containers the VPA's policies name (not ``*``)."""
    return [p.container_name for p in vpa.container_policies if p.container_name != "*"]


def _star(vpa: Vpa) -> ContainerPolicy | None:
    return next((p for p in vpa.container_policies if p.container_name == "*"), None)


def _policy(vpa: Vpa, container: str) -> ContainerPolicy | None:
    return _star(vpa) if container == OTHERS else vpa.policy_for(container)


def _controlled(policy: ContainerPolicy | None) -> tuple[str, ...]:
    """The resources a container under ``policy`` has sized (None: the defaults)."""
    if policy is None:
        return DEFAULT_CONTROLLED_RESOURCES
    return () if policy.mode == "Off" else policy.controlled_resources


def _listed(resources: list[str]) -> str:
    return "[" + ", ".join(f'"{r}"' for r in resources) + "]"


def _entry(container: str, keep: list[str]) -> str:
    """A containerPolicies entry as the user would write it."""
    if not keep:
        return f'{{containerName: "{container}", mode: "Off"}}'
    return f'{{containerName: "{container}", controlledResources: {_listed(keep)}}}'


def _edit(policy: ContainerPolicy, keep: list[str]) -> str:
    where = f'{VPA}\'s "{policy.container_name}" policy'
    if not keep:
        return f'set mode: "Off" in {where}'
    return f"set controlledResources of {where} to {_listed(keep)}"


def find_conflict(hpa: Hpa, vpa: Vpa, template: Template) -> Conflict | None:
    """The conflict between ``hpa`` and ``vpa`` (None: none, or other targets)."""
    ref = vpa.target_ref
    if ref is None or (ref.kind, ref.name) != (hpa.target_kind, hpa.target_name):
        return None
    if vpa.update_mode not in ACTIVE_UPDATE_MODES:
        return None
    if template.containers is not None:
        containers = list(template.containers)
    else:
        metric_named = [m.container for m in hpa.metrics if m.container]
        containers = list(dict.fromkeys([*named_policies(vpa), *metric_named])) + [OTHERS]
    pod_wide = {m.resource for m in conflicting_metrics(hpa) if m.container is None}
    metrics: list[ResourceMetric] = []
    sized: dict[str, set[str]] = {}
    for metric in conflicting_metrics(hpa):
        scope = [c for c in containers if metric.container in (None, c)]
        hit = [c for c in scope if metric.resource in _controlled(_policy(vpa, c))]
        for container in hit:
            sized.setdefault(container, set()).add(metric.resource)
        if hit and metric not in metrics:
            metrics.append(metric)
    if not sized:
        return None
    order = {c: i for i, c in enumerate(containers)}
    ordered = sorted(sized, key=order.__getitem__)
    defaulted = tuple(c for c in ordered if _policy(vpa, c) is None)
    return Conflict(
        hpa, vpa, tuple(metrics),
        tuple((c, tuple(r for r in DEFAULT_CONTROLLED_RESOURCES if r in sized[c]))
              for c in ordered),
        defaulted,
        _vpa_fixes(vpa, ordered, sized, pod_wide),
        # Without exact-name policies every container is sized alike: the assumption is moot.
        template.why if OTHERS in sized and named_policies(vpa) else "",
    )


def _vpa_fixes(vpa: Vpa, containers: list[str], sized: dict[str, set[str]],
               pod_wide: set[str]) -> tuple[str, ...]:
    """The changes to the VPA that end the conflict; () when only updateMode Off does."""
    if set(DEFAULT_CONTROLLED_RESOURCES) <= pod_wide:
        return ()  # every container it sizes would need mode Off
    star = _star(vpa)
    fixes: list[str] = []
    star_fixed = False
    for container in containers:
        policy = _policy(vpa, container)
        keep = [r for r in _controlled(policy) if r not in sized[container]]
        if policy is not None and policy.container_name == container:
            fixes.append(_edit(policy, keep))
        elif container != OTHERS and not sized[container] <= pod_wide:
            # A ContainerResource metric on a container the * policy (or the default) sizes:
            # its own entry changes nothing for the other containers.
            fixes.append(f"add {_entry(container, keep)} to {VPA}'s containerPolicies")
        elif not star_fixed:
            star_fixed = True
            keep = [r for r in _controlled(star) if r not in pod_wide]
            fixes.append(_edit(star, keep) if star is not None
                         else f"add {_entry('*', keep)} to {VPA}'s containerPolicies")
    return tuple(dict.fromkeys(fixes))


def hpa_conflict(hpa: Hpa, vpas: Iterable[Vpa], template: Template) -> Conflict | None:
    """The first conflict of an HPA with an existing VPA, else None."""
    for vpa in sorted(vpas, key=lambda v: (v.creation_timestamp, v.name)):
        found = find_conflict(hpa, vpa, template)
        if found is not None:
            return found
    return None


def vpa_conflict(vpa: Vpa, hpas: Iterable[Hpa], template: Template) -> Conflict | None:
    """The first conflict of a VPA with an existing HPA, else None."""
    for hpa in sorted(hpas, key=lambda h: h.name):
        found = find_conflict(hpa, vpa, template)
        if found is not None:
            return found
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
        ref = vpa.target_ref
        same = ref is not None and (ref.kind, ref.name) == (hpa.target_kind, hpa.target_name)
        if same and vpa.update_mode in ACTIVE_UPDATE_MODES:
            # A warning: kubectl shows up to 120 characters.
            return (f"{FORECAST_METRIC} is absolute demand: HPA {hpa.name} and VPA {vpa.name} "
                    "are compatible (VPA requests do not move it)")
    return None
