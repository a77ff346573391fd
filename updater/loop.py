"""One updater loop: list, decide per pod, then act within the budgets, highest priority first.

The pod -> VPA match and the desired sizes are the webhook's own (:mod:`webhook.pods`) over
a :class:`webhook.state.ClusterState` filled from this loop's lists, so the updater and the
webhook never disagree about a pod.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.next_hours import with_next_hours
from recommender.owners import POD, controller_ref
from recommender.quantity import MEMORY
from recommender.vpa import IN_PLACE_MODES
from updater.actuator import BLOCKED, DONE, INFEASIBLE, Actuator
from updater.budget import GroupBudget, TokenBucket
from updater.decide import (
    EVICT,
    EVICTING_MODES,
    RESIZE,
    SKIP,
    Decision,
    decide_pod,
)
from updater.pods import PodView, pod_view
from updater.priority import NO_PRIORITY
from updater.settings import UpdaterSettings
from updater.telemetry import Telemetry
from updater.tide import TideMemory
from webhook.boost import BOOST_ANNOTATION, read_annotation
from webhook.pods import is_mirror, matching_vpa, plan_pod
from webhook.sizing import quantities
from webhook.state import KINDS, ClusterState

log = logging.getLogger(__name__)

# Lists the loop reads: (kind for ClusterState, API prefix, plural).
LISTS = (
    ("VerticalPodAutoscaler", paths.VPA_API, "verticalpodautoscalers"),
    ("LimitRange", "/api/v1", "limitranges"),
    ("ReplicaSet", "/apis/apps/v1", "replicasets"),
    ("Job", "/apis/batch/v1", "jobs"),
    ("StatefulSet", "/apis/apps/v1", "statefulsets"),
    ("Deployment", "/apis/apps/v1", "deployments"),
    ("DaemonSet", "/apis/apps/v1", "daemonsets"),
)
TERMINAL = ("Succeeded", "Failed")
ACTING_MODES = IN_PLACE_MODES | EVICTING_MODES


def configured_replicas(kind: str, obj: Mapping[str, Any]) -> int | None:
    """How many pods a controller object wants (None: it does not say)."""
    spec = obj.get("spec") or {}
    value = spec.get("parallelism") if kind == "Job" else spec.get("replicas")
    if kind in ("ReplicaSet", "StatefulSet", "ReplicationController") and value is None:
        value = 1  # the API's default
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def min_replicas(vpa_raw: Mapping[str, Any], default: int) -> int:
    value = ((vpa_raw.get("spec") or {}).get("updatePolicy") or {}).get("minReplicas")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default


@dataclass
class LoopResult:
    """What one loop saw and did (also the benchmark's and the tests' view)."""

    vpas: int = 0
    pods: int = 0
    decisions: list[Decision] = field(default_factory=list)
    resized: list[Decision] = field(default_factory=list)
    evicted: list[Decision] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    budgets: dict[tuple[str, str, str], GroupBudget] = field(default_factory=dict)
    decide_seconds: float = 0.0

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


class Updater:
    """Holds what must outlive a loop: the tide's memory, the rate limit, the actuator."""

    def __init__(
        self,
        api: KubeApi,
        settings: UpdaterSettings,
        telemetry: Telemetry | None = None,
        identity: str = "tidal-updater",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.settings, self.clock = api, settings, clock
        self.telemetry = telemetry or Telemetry()
        self.actuator = Actuator(api, identity, settings.dry_run)
        self.limiter = TokenBucket(settings.rate_limit, settings.rate_burst)
        self.tide = TideMemory()
        # Pod uid -> container -> requests of a resize the apiserver refused as larger than the
        # node: InPlace retries only once the target drops below it.
        self.refused: dict[str, dict[str, dict[str, float]]] = {}
        self.last_success = 0.0

    # ----------------------------------------------------------------- reading

    def _path(self, prefix: str, plural: str) -> str:
        return paths.collection(prefix, plural, self.settings.namespace)

    def _list(self, prefix: str, plural: str) -> list[dict[str, Any]]:
        return list(self.api.list(self._path(prefix, plural), self.settings.page_size))

    def _memory_use(self, namespaces: Iterable[str]) -> dict[tuple[str, str], float]:
        """(pod key, container) -> bytes in use, from metrics.k8s.io where it is served."""
        use: dict[tuple[str, str], float] = {}
        for namespace in sorted(set(namespaces)):
            try:
                items = self.api.list(paths.pod_metrics(namespace), self.settings.page_size)
                for item in items:
                    meta = item.get("metadata") or {}
                    key = f"{meta.get('namespace')}/{meta.get('name')}"
                    for container in item.get("containers") or []:
                        value = quantities(container.get("usage")).get(MEMORY)
                        if value is not None:
                            use[(key, str(container.get("name")))] = value
            except ApiException as exc:
                log.debug("no memory use for %s: %s", namespace, exc.status)
        return use

    # ----------------------------------------------------------------- one loop

    def run_once(self) -> LoopResult:
        """List, decide and act once; returns what happened."""
        started = time.monotonic()
        objects: list[Mapping[str, Any]] = []
        replicas: dict[tuple[str, str, str], int] = {}
        for kind, prefix, plural in LISTS:
            for obj in self._list(prefix, plural):
                obj.setdefault("kind", kind)
                objects.append(obj)
                if (count := configured_replicas(kind, obj)) is not None:
                    meta = obj.get("metadata") or {}
                    replicas[(str(meta.get("namespace")), kind, str(meta.get("name")))] = count
        pods = self._list("/api/v1", "pods")
        in_place = {
            str((o.get("metadata") or {}).get("namespace"))
            for o in objects
            if o.get("kind") == LISTS[0][0]
            and ((o.get("spec") or {}).get("updatePolicy") or {}).get("updateMode")
            in IN_PLACE_MODES
        }
        use = self._memory_use(in_place)
        now = self.clock()
        # The listed objects live until the loop ends and hold no cycles: keep the collector
        # from walking them again and again while the decisions allocate.
        gc.freeze()
        try:
            result = self.decide(objects, pods, replicas, now, use)
            self._act(result, now)
        finally:
            gc.unfreeze()
        self.telemetry.loop_seconds.observe(time.monotonic() - started)
        self.last_success = time.time()
        return result

    def decide(
        self,
        objects: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        replicas: Mapping[tuple[str, str, str], int],
        now: float,
        use: Mapping[tuple[str, str], float] | None = None,
    ) -> LoopResult:
        """Every pod's decision, in the order they would be acted on (pure but for timers).

        ``use``: (pod key, container) -> memory bytes in use, where metrics.k8s.io has it.
        """
        use = use or {}
        started = time.monotonic()
        state = ClusterState()
        for kind in KINDS:  # one list per kind (an upsert per object re-indexes its namespace)
            listed = [o for o in objects if o.get("kind") == kind]
            if kind == LISTS[0][0]:  # in-place VPAs follow their next-hours targets
                listed = [with_next_hours(o) for o in listed]
            state.replace(kind, listed)
        state.replace(POD, pods)  # a LeaderWorkerSet's leader pod owns its workers' StatefulSet
        result = LoopResult(vpas=sum(1 for o in objects if o.get("kind") == LISTS[0][0]))
        by_vpa: dict[str, list[tuple[PodView, Any, Any]]] = {}
        entries: dict[str, Any] = {}
        live: set[str] = set()
        for pod in pods:
            meta = pod.get("metadata") or {}
            namespace = str(meta.get("namespace") or "default")
            entry, chain = matching_vpa(pod, namespace, state)
            if entry is None:
                continue
            result.pods += 1
            live.add(str(meta.get("uid") or ""))
            boosted = BOOST_ANNOTATION in (meta.get("annotations") or {})
            if entry.vpa.update_mode not in ACTING_MODES and not boosted:  # nothing to read
                result.decisions.append(Decision(
                    pod_view(pod, containers=False), entry.vpa, SKIP,
                    f"updateMode {entry.vpa.update_mode} never touches running pods",
                    skip_kind="mode",
                ))  # fmt: skip
                continue
            by_vpa.setdefault(entry.vpa.key, []).append((pod_view(pod), pod, chain))
            entries[entry.vpa.key] = entry
        for key, members in by_vpa.items():
            entry = entries[key]
            vpa = entry.vpa
            alive = [v for v, _, _ in members if not v.deleting and v.phase not in TERMINAL]
            needed = min_replicas(vpa.raw, self.settings.min_replicas)
            ranked: list[Decision] = []
            plans: dict[tuple[Any, ...], Any] = {}  # pods of one template share their plan
            for view, pod, chain in members:
                template = (is_mirror(pod), _resources_key(pod))
                plan = plans.get(template)
                if plan is None:
                    plan = plan_pod(pod, view.namespace, state, match=(entry, chain), boost=False)
                    plans[template] = plan
                memory = {c.name: use[(view.key, c.name)] for c in view.containers
                          if (view.key, c.name) in use}  # fmt: skip
                decision = decide_pod(
                    view, vpa, entry.recommendations, plan, self.settings, now, memory, self.tide,
                    self.refused.get(view.uid), read_annotation(pod),
                )
                if decision.action != SKIP and not decision.unboost and len(alive) < needed:
                    why = f"{len(alive)} live pods, fewer than minReplicas {needed}"
                    decision = Decision(view, vpa, SKIP, why, skip_kind="min_replicas")
                ranked.append(decision)
            ranked.sort(key=lambda d: d.priority or NO_PRIORITY, reverse=True)
            result.decisions.extend(ranked)
        self.tide.keep_only(live)
        self.refused = {uid: r for uid, r in self.refused.items() if uid in live}
        result.budgets = self._group_budgets(by_vpa, replicas)
        result.decide_seconds = time.monotonic() - started
        return result

    def _group_budgets(
        self,
        by_vpa: Mapping[str, list[tuple[PodView, Any, Any]]],
        replicas: Mapping[tuple[str, str, str], int],
    ) -> dict[tuple[str, str, str], GroupBudget]:
        """One budget per direct controller of the VPAs' pods."""
        members: dict[tuple[str, str, str], list[PodView]] = {}
        for group in by_vpa.values():
            for view, pod, _ in group:
                members.setdefault(_group_key(view, pod), []).append(view)
        budgets = {}
        for key, views in members.items():
            alive = [v for v in views if not v.deleting and v.phase not in TERMINAL]
            running = [v for v in alive if v.phase == "Running"]
            disrupted = sum(
                1 for v in running
                if v.ready_since is None or v.resize_in_progress is not None
            )  # fmt: skip
            configured = replicas.get(key, len(alive)) if key[1] else 1
            budgets[key] = GroupBudget(configured, len(running), disrupted)
        return budgets

    # ----------------------------------------------------------------- acting

    def _act(self, result: LoopResult, now: float) -> None:
        s, t = self.settings, self.telemetry
        for decision in result.decisions:
            mode = decision.vpa.update_mode
            if decision.action == SKIP:
                result.skip(decision.skip_kind or "other")
                t.skips.labels(decision.skip_kind or "other").inc()
                continue
            view = decision.pod
            budget = result.budgets[_group_key(view, view.raw)]
            running = view.phase == "Running"
            disrupts = decision.action == EVICT or decision.restarts
            checked = disrupts or not s.in_place_skip_disruption_budget
            if checked and not budget.can_disrupt(s.eviction_tolerance, running):
                result.skip("disruption_budget")
                t.skips.labels("disruption_budget").inc()
                continue
            if not self.limiter.take():
                result.skip("rate_limit")
                t.skips.labels("rate_limit").inc()
                continue
            if decision.action == RESIZE:
                outcome = self.actuator.resize(decision, now)
                if outcome == DONE:
                    if not s.dry_run:
                        self.tide.record_resize(view.uid, now)
                    result.resized.append(decision)
                    t.resizes.labels(mode).inc()
                elif outcome == INFEASIBLE:
                    self.refused[view.uid] = {c.name: dict(c.requests) for c in decision.changes}
                    if mode in EVICTING_MODES and budget.can_disrupt(s.eviction_tolerance, running):
                        decision.action = EVICT  # InPlaceOrRecreate: at once, in this loop
                    else:
                        result.skip("infeasible")
                        t.skips.labels("infeasible").inc()
                        continue
            if decision.action == EVICT:
                outcome = self.actuator.evict(decision, now)
                if outcome == DONE:
                    result.evicted.append(decision)
                    t.evictions.labels(mode).inc()
                    if mode in IN_PLACE_MODES:
                        t.fallbacks.labels(_fallback_kind(decision.reason)).inc()
                elif outcome == BLOCKED:
                    result.skip("pod_disruption_budget")
                    t.skips.labels("pod_disruption_budget").inc()
            if outcome == DONE:
                budget.record(running, decision.action == EVICT)
            elif outcome not in (BLOCKED, INFEASIBLE):
                t.failures.labels(decision.action).inc()


def _resources_key(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a pod's plan depends on besides its VPA: its containers' names and resources."""
    key = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        key.append((
            container.get("name"),
            tuple(sorted((resources.get("requests") or {}).items())),
            tuple(sorted((resources.get("limits") or {}).items())),
        ))  # fmt: skip
    return tuple(key)


def _group_key(view: PodView, pod: Mapping[str, Any]) -> tuple[str, str, str]:
    owner = controller_ref(pod.get("metadata") or {})
    if owner is None:
        return (view.namespace, "", view.name)
    return (view.namespace, owner.kind, owner.name)


def _fallback_kind(reason: str) -> str:
    for kind in ("infeasible", "deferred", "in progress", "QoS", "GPU"):
        if kind in reason:
            return kind.lower().replace(" ", "_")
    return "other"
