"""What to do with one pod of a VPA: resize it in place, evict it, or leave it, and why.

Pure. The desired resources are exactly what the webhook would give the pod at creation
(:func:`webhook.pods.plan_pod`: policy, LimitRanges, limit ratios, GPU whole devices), so a
pod resized in place and a pod recreated end up the same. Modes, as upstream VPA 1.7:

- ``Off``, ``Initial``: running pods are never touched.
- ``Recreate`` (and deprecated ``Auto``): evict.
- ``InPlaceOrRecreate``: resize through ``pods/resize``; evict when the resize is
  ``Infeasible``, ``Deferred`` past ``deferred_timeout_s``, ``InProgress`` past
  ``in_progress_timeout_s`` (or failed), would change the QoS class, or must change a GPU.
- ``InPlace``: resize; never evict (an infeasible size is retried only once the target
  drops below it).

CPU and memory only are resized in place; GPUs and other extended resources change only by a
new pod. A memory limit is never lowered in place below the container's use plus a margin. Following
the tide, in place: increases at once; a decrease within bounds once the lower target has held
(``lower_after_s``); a decrease of a request above its upper bound at once, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.quantity import CPU, MEMORY
from recommender.vpa import IN_PLACE_MODES, TARGET_HIGHER, TARGET_LOWER, Vpa
from updater.boost import boosted_containers, remaining_s, unboosted
from updater.pods import (
    COMPUTE,
    GUARANTEED,
    ContainerView,
    PodView,
    qos_class,
)
from updater.priority import Priority, needs_update, priority
from updater.settings import UpdaterSettings
from updater.tide import TideMemory
from webhook.pods import PodPlan
from webhook.sizing import format_value, quantities

RESIZE, EVICT, SKIP = "resize", "evict", "skip"
EVICTING_MODES = frozenset({"Recreate", "Auto", "InPlaceOrRecreate"})
RESTART_CONTAINER = "RestartContainer"
INFEASIBLE, DEFERRED = "Infeasible", "Deferred"
Resources = dict[str, float]


@dataclass(frozen=True)
class ContainerChange:
    """One container's requests and limits, before and after."""

    name: str
    old_requests: Mapping[str, float]
    old_limits: Mapping[str, float]
    requests: Mapping[str, float]
    limits: Mapping[str, float]

    def changed(self) -> bool:
        return any(
            self.requests.get(r) != self.old_requests.get(r)
            or self.limits.get(r) != self.old_limits.get(r)
            for r in set(self.requests) | set(self.limits)
        )

    def describe(self) -> str:
        """``cpu 500m -> 350m, memory unchanged`` (requests; limits follow them)."""
        parts = []
        for resource in sorted(set(self.requests) | set(self.old_requests)):
            old, new = self.old_requests.get(resource), self.requests.get(resource)
            if new is None:
                continue
            if old == new:
                parts.append(f"{resource} unchanged")
            else:
                before = format_value(resource, old) if old is not None else "none"
                parts.append(f"{resource} {before} -> {format_value(resource, new)}")
        return ", ".join(parts)


@dataclass
class Decision:
    """The outcome for one pod."""

    pod: PodView
    vpa: Vpa
    action: str
    reason: str
    changes: tuple[ContainerChange, ...] = ()
    priority: Priority | None = None
    restarts: bool = False  # the resize restarts a container (its resizePolicy says so)
    skip_kind: str = ""  # a short label of why it was skipped, for metrics
    unboost: bool = False  # takes a startup boost back (exempt from minReplicas)
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The Event text: ``Resized cpu 500m -> 350m, memory unchanged: InPlace, ...``."""
        changed = [c for c in self.changes if c.changed()] or list(self.changes)
        if len(changed) == 1:
            what = changed[0].describe()
        else:
            what = "; ".join(f"{c.name}: {c.describe()}" for c in changed)
        verb = "Resized" if self.action == RESIZE else "Evicted to apply"
        return f"{verb} {what}: {self.vpa.update_mode}, {self.reason}"


def _skip(pod: PodView, vpa: Vpa, kind: str, reason: str) -> Decision:
    return Decision(pod, vpa, SKIP, reason, skip_kind=kind)


def desired_resources(plan: PodPlan, pod: PodView) -> dict[str, tuple[Resources, Resources]]:
    """Container name -> (requests, limits) the plan gives the sized containers."""
    containers = (pod.raw.get("spec") or {}).get("containers") or []
    desired: dict[str, tuple[Resources, Resources]] = {}
    for pointer, part in (plan.mutated or {}).items():
        if not pointer.startswith("/spec/containers/"):
            continue
        index = int(pointer.rsplit("/", 1)[1])
        resources = part.get("resources") or {}
        name = str(containers[index].get("name") or "")
        desired[name] = (quantities(resources.get("requests")), quantities(resources.get("limits")))
    return desired


def _bounds(entry_recs: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[Resources, Resources]]:
    return {
        name: (quantities(rec.get("lowerBound")), quantities(rec.get("upperBound")))
        for name, rec in entry_recs.items()
    }


def evict_after_oom_s(vpa: Vpa, settings: UpdaterSettings) -> float:
    """``spec.updatePolicy.evictAfterOOMSeconds`` of the VPA (AEP-8026), else the global
    ``--evict-after-oom-threshold``."""
    return settings.evict_after_oom_s if vpa.evict_after_oom_s is None else vpa.evict_after_oom_s


def _in_flight(pod: PodView, vpa: Vpa, settings: UpdaterSettings, now: float) -> Decision | None:
    """A resize the kubelet has not finished: wait, or fall back to eviction."""
    evicts = vpa.update_mode in EVICTING_MODES
    pending, progress = pod.resize_pending, pod.resize_in_progress
    if pending is not None and pending.reason == INFEASIBLE:
        if evicts:
            return Decision(pod, vpa, EVICT, f"resize infeasible: {pending.message}".rstrip(": "))
        return None  # InPlace: retried below only when the target drops under the spec
    if pending is not None:
        waited = now - (pending.since or now)
        if evicts and waited >= settings.deferred_timeout_s:
            return Decision(pod, vpa, EVICT, f"resize deferred for {waited:.0f}s")
        return _skip(pod, vpa, "deferred", f"resize deferred for {waited:.0f}s")
    if progress is not None:
        waited = now - (progress.since or now)
        if evicts and (progress.reason == "Error" or waited >= settings.in_progress_timeout_s):
            why = progress.message or progress.reason or "timeout"
            return Decision(pod, vpa, EVICT, f"resize in progress for {waited:.0f}s ({why})")
        return _skip(pod, vpa, "in_progress", f"resize in progress for {waited:.0f}s")
    return None


def _guard_memory_limit(
    container: ContainerView, requests: Resources, limits: Resources, use: float | None,
    margin: float, guaranteed: bool,
) -> str | None:  # fmt: skip
    """Keep a lowered memory limit above use x (1 + margin); returns a note when it did."""
    old, new = container.limits.get(MEMORY), limits.get(MEMORY)
    if old is None or new is None or new >= old:
        return None
    floor = old if use is None else min(old, use * (1 + margin))
    if new >= floor:
        return None
    limits[MEMORY] = floor
    if guaranteed:
        requests[MEMORY] = floor
    return "memory limit kept above current use" if use is not None else "memory use unknown"


def decide_pod(
    pod: PodView,
    vpa: Vpa,
    recommendations: Mapping[str, Mapping[str, Any]],
    plan: PodPlan,
    settings: UpdaterSettings,
    now: float,
    memory_use: Mapping[str, float] | None = None,
    tide: TideMemory | None = None,
    refused: Mapping[str, Mapping[str, float]] | None = None,
    boost_entries: Mapping[str, Mapping[str, str]] | None = None,
) -> Decision:
    """Decide one pod. ``memory_use``: container -> bytes now in use (metrics.k8s.io);
    ``refused``: container -> requests of a resize the apiserver refused as infeasible;
    ``boost_entries``: the pod's startup-boost annotation (``plan`` is then made unboosted)."""
    mode = vpa.update_mode
    if pod.deleting or pod.phase in ("Succeeded", "Failed"):
        return _skip(pod, vpa, "terminating", "pod is terminating")
    if boost_entries and (still := boosted_containers(pod, boost_entries)):
        return _unboost(pod, vpa, still, plan, now)
    if mode not in IN_PLACE_MODES and mode not in EVICTING_MODES:
        return _skip(pod, vpa, "mode", f"updateMode {mode} never touches running pods")
    if plan.mutated is None:
        return _skip(pod, vpa, "no_recommendation", plan.reason)
    in_place = mode in IN_PLACE_MODES
    if in_place and (flight := _in_flight(pod, vpa, settings, now)) is not None:
        return flight
    desired = desired_resources(plan, pod)
    wanted_requests = {name: requests for name, (requests, _) in desired.items()}
    oom_s = evict_after_oom_s(vpa, settings)
    prio = priority(pod, wanted_requests, _bounds(recommendations), oom_s, now)
    why = needs_update(
        prio, pod, now, settings.lifetime_threshold_s, settings.pod_update_threshold
    )
    if why is None and in_place and _moved(pod, wanted_requests, settings.tide_hysteresis):
        why = "following the target"
    changes = tuple(
        ContainerChange(c.name, c.requests, c.limits, *desired[c.name])
        for c in pod.containers
        if c.name in desired
    )
    extended = any(
        ch.requests.get(r) != ch.old_requests.get(r)
        for ch in changes
        for r in set(ch.requests) - set(COMPUTE)
    )
    age = now - pod.start_time if pod.start_time is not None else 0.0
    if why is None and extended and age >= settings.lifetime_threshold_s:
        why = "GPUs differ from the target"
    infeasible = pod.resize_pending is not None and pod.resize_pending.reason == INFEASIBLE
    if refused and mode not in EVICTING_MODES and not _below(wanted_requests, refused):
        return _skip(pod, vpa, "infeasible", "a resize to this size was refused as larger "
                     "than the node; retried only when the target drops below it")  # fmt: skip
    if why is None and not infeasible:
        return _skip(pod, vpa, "within_bounds", "requests within bounds and near the target")
    if not requirements_met(pod, vpa, wanted_requests):
        return _skip(pod, vpa, "eviction_requirements", "no container meets the VPA's "
                     "evictionRequirements (" + ", ".join(
                         f"{r.change} for {'/'.join(r.resources)}"
                         for r in vpa.eviction_requirements) + ")")
    if not in_place:
        return Decision(pod, vpa, EVICT, why or "", changes, prio)
    if infeasible and mode not in EVICTING_MODES and not _any_lower(changes):
        return _skip(pod, vpa, "infeasible", "the last resize was infeasible; retried only "
                     "when the target drops below it")  # fmt: skip
    if extended and mode in EVICTING_MODES:
        return Decision(pod, vpa, EVICT, "GPUs change only with a new pod", changes, prio)
    return _resize(pod, vpa, changes, prio, why or "", settings, now, memory_use or {}, tide)


def requirements_met(pod: PodView, vpa: Vpa, wanted: Mapping[str, Resources]) -> bool:
    """``updatePolicy.evictionRequirements``, as upstream's updater applies them to every
    update: some container with a target meets them all. A container meets a requirement
    when the target is higher (or lower) than its request for at least one of its resources;
    a container without both a cpu and a memory request meets them."""
    if not vpa.eviction_requirements:
        return True
    for container in pod.containers:
        target = wanted.get(container.name)
        if target is None:
            continue
        if "cpu" not in container.requests or "memory" not in container.requests:
            return True
        if all(any(_direction(container.requests.get(r, 0.0), target.get(r, 0.0), req.change)
                   for r in req.resources) for req in vpa.eviction_requirements):
            return True
    return False


def _direction(request: float, target: float, change: str) -> bool:
    now, then = round(request * 1000), round(target * 1000)  # milli-units, as upstream
    return then > now if change == TARGET_HIGHER else then < now if change == TARGET_LOWER \
        else False


def _unboost(
    pod: PodView,
    vpa: Vpa,
    still: Mapping[str, Mapping[str, str]],
    plan: PodPlan,
    now: float,
) -> Decision:
    """A boosted pod: wait for Ready + durationSeconds, then resize its CPU back in place."""
    wait = remaining_s(pod, still, now)
    if wait > 0:
        why = "not Ready yet" if wait == float("inf") else f"{wait:.0f}s to go"
        return _skip(pod, vpa, "boosted", f"startup boost active ({why})")
    targets = unboosted(pod, vpa, still, desired_resources(plan, pod) if plan.mutated else {})
    changes = []
    for name, (requests, limits) in targets.items():
        container = pod.container(name)
        assert container is not None
        old_limits = {CPU: container.limits[CPU]} if CPU in container.limits else {}
        changes.append(ContainerChange(name, {CPU: container.requests[CPU]}, old_limits,
                                       requests, limits))  # fmt: skip
    ready_for = now - (pod.ready_since or now)
    decision = Decision(pod, vpa, RESIZE, f"startup boost over (Ready for {ready_for:.0f}s)",
                        tuple(changes), unboost=True)  # fmt: skip
    if not any(c.changed() for c in changes):
        return _skip(pod, vpa, "boosted", "startup boost over; nothing to resize")
    return decision


def _moved(pod: PodView, wanted: Mapping[str, Resources], hysteresis: float) -> bool:
    """Any cpu or memory request more than ``hysteresis`` away from its target."""
    for container in pod.containers:
        for resource, value in wanted.get(container.name, {}).items():
            old = container.requests.get(resource)
            if resource in COMPUTE and (not old or abs(value - old) > hysteresis * old):
                return True
    return False


def _resize(
    pod: PodView,
    vpa: Vpa,
    changes: tuple[ContainerChange, ...],
    prio: Priority,
    why: str,
    settings: UpdaterSettings,
    now: float,
    memory_use: Mapping[str, float],
    tide: TideMemory | None,
) -> Decision:
    """The in-place part of a decision: cpu and memory only, QoS kept, decreases held."""
    evicts = vpa.update_mode in EVICTING_MODES
    guaranteed = pod.qos == GUARANTEED
    notes: list[str] = []
    resized: list[ContainerChange] = []
    lowering = raising = False
    for change in changes:
        container = pod.container(change.name)
        assert container is not None
        requests = {r: v for r, v in change.requests.items() if r in COMPUTE}
        limits = {r: v for r, v in change.limits.items() if r in COMPUTE}
        for resource in list(requests):
            old = container.requests.get(resource)
            lower = old is not None and requests[resource] < old
            held = tide.held_for((pod.uid, change.name, resource), lower, now) if tide else 0.0
            waits = not prio.outside_range and not _infeasible_above(pod)
            if lower and waits and held < settings.lower_after_s:
                requests[resource] = old  # type: ignore[assignment]
                if resource in container.limits:
                    limits[resource] = container.limits[resource]
                notes.append(f"{change.name} {resource} decrease waits for the target to hold")
                continue
            lowering |= lower
            raising |= old is None or requests[resource] > old
        note = _guard_memory_limit(
            container, requests, limits, memory_use.get(change.name),
            settings.memory_limit_margin, guaranteed,
        )  # fmt: skip
        if note:
            notes.append(f"{change.name}: {note}")
        resized.append(ContainerChange(
            change.name,
            {r: v for r, v in container.requests.items() if r in COMPUTE},
            {r: v for r, v in container.limits.items() if r in COMPUTE},
            requests, limits,
        ))  # fmt: skip
    if not any(c.changed() for c in resized):
        kind = "held" if notes else "within_bounds"
        return Decision(pod, vpa, SKIP, "; ".join(notes) or "nothing to resize in place",
                        tuple(resized), prio, skip_kind=kind)  # fmt: skip
    new_qos = qos_class(_with_changes(pod, resized))
    if new_qos != pod.qos:
        reason = f"a resize would change the QoS class {pod.qos} -> {new_qos}"
        if evicts:
            return Decision(pod, vpa, EVICT, reason, changes, prio)
        return _skip(pod, vpa, "qos", reason)
    history = tide.resizes(pod.uid, now) if tide else []
    budget = settings.max_resizes_per_day - (0 if raising else settings.raise_reserve)
    if len(history) >= budget:
        return _skip(pod, vpa, "churn_budget",
                     f"{len(history)} resizes in 24 h (budget {settings.max_resizes_per_day})")
    restarts = any(
        (pod.container(c.name) or c).resize_policy.get(r) == RESTART_CONTAINER  # type: ignore[union-attr]
        for c in resized
        for r in COMPUTE
        if c.requests.get(r) != c.old_requests.get(r) or c.limits.get(r) != c.old_limits.get(r)
    )
    return Decision(pod, vpa, RESIZE, why, tuple(resized), prio, restarts, notes=notes)


def _below(wanted: Mapping[str, Resources], refused: Mapping[str, Mapping[str, float]]) -> bool:
    """Any wanted request lower than the refused one."""
    return any(
        value < refused.get(name, {}).get(resource, value)
        for name, requests in wanted.items()
        for resource, value in requests.items()
    )


def _any_lower(changes: tuple[ContainerChange, ...]) -> bool:
    return any(
        value < c.old_requests.get(r, value) for c in changes for r, value in c.requests.items()
    )


def _infeasible_above(pod: PodView) -> bool:
    """An Infeasible resize is outstanding: going back down is never held."""
    return pod.resize_pending is not None and pod.resize_pending.reason == INFEASIBLE


def _with_changes(pod: PodView, changes: list[ContainerChange]) -> list[dict[str, Any]]:
    """The pod's containers' resource blocks after the changes (for the QoS class)."""
    by_name = {c.name: c for c in changes}
    blocks: list[dict[str, Any]] = []
    for container in pod.containers:
        change = by_name.get(container.name)
        requests = dict(container.requests)
        limits = dict(container.limits)
        if change is not None:
            requests.update(change.requests)
            limits.update(change.limits)
        blocks.append({"resources": {"requests": requests, "limits": limits}})
    return blocks
