"""The recommender loop: VPAs and pods from the API, usage from the metrics API (and
Prometheus), the model, recommendations, status patches, checkpoints and their GC.

One :class:`Recommender` holds the state of one leader. ``run_once`` is one loop iteration;
``run`` repeats it every interval while this replica holds the Lease.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.checkpoints import CheckpointWriter, collect_garbage, load_checkpoints
from recommender.cluster.leader import LeaseElector
from recommender.cluster.pods import oom_samples, pod_info
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.status import (
    Outcome,
    StatusCache,
    changed_meaningfully,
    desired_status,
)
from recommender.cluster.targets import INTERMEDIATE, WELL_KNOWN, PodInfo, TargetIndex
from recommender.cluster.telemetry import Telemetry
from recommender.history import Samples
from recommender.input.backoff import Backoff, SourceUnavailable
from recommender.input.dcgm import gpu_models, model_from_product
from recommender.input.metrics_api import pod_metrics_samples
from recommender.input.prometheus import FetchStats, PrometheusSource
from recommender.logic.gpu import GpuModel, gpu_model
from recommender.logic.recommend import recommend
from recommender.logic.strategies import STRATEGIES
from recommender.model.state import ContainerKey, UsageModel
from recommender.quantity import Rounding
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import Vpa, parse_vpa

log = logging.getLogger(__name__)
RECOMMEND_BATCH = 4096
UNMATCHED_GETS = 20  # more VPAs without pods than this per kind: list the kind instead
TargetRefKey = tuple[str, str]  # (namespace, name)


@dataclass
class LoopReport:
    """What one loop did."""

    vpas: int = 0
    served: int = 0
    pods: int = 0
    samples: int = 0
    dropped: int = 0
    status_writes: int = 0
    unchanged: int = 0
    checkpoints: int = 0
    deleted_checkpoints: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per stage


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


class Recommender:
    """The in-cluster recommender's state and loop."""

    def __init__(
        self,
        settings: RecommenderSettings,
        api: KubeApi,
        prometheus: PrometheusSource | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.api, self.prometheus = settings, api, prometheus
        self.telemetry = telemetry or Telemetry()
        self.clock = clock
        self.strategy = STRATEGIES.create(settings.strategy)
        self.gpu: GpuModel | None = gpu_model(settings.gpu_model)
        self.rounding = Rounding(settings.round_cpu_millicores, settings.round_memory_bytes)
        self.metrics_backoff = Backoff(initial_s=settings.interval_s, max_s=600.0)
        self.prometheus_backoff = Backoff(initial_s=settings.interval_s, max_s=600.0)
        self.last_loop_end: float | None = None
        self.leading = False
        self.reset()

    def reset(self) -> None:
        """Forget all state (on start and when leadership is lost)."""
        self.model = UsageModel()
        self.checkpoints = CheckpointWriter(
            self.api, self.settings.checkpoint_interval_s, self.settings.checkpoint_deadline_s,
            self.settings.workers, self.clock,
        )
        self.oom_seen: set[tuple[str, str, str, float]] = set()
        self.statuses = StatusCache()
        self.last_gc = -math.inf
        self.bootstrapped = False
        self.prometheus_until: float | None = None
        self.checkpoint_targets: list[tuple[Vpa, ContainerKey]] = []

    # -- reading the cluster ------------------------------------------------------------
    def load_view(self) -> ClusterView:
        """VPAs (served ones parsed, invalid ones with their reason) and pods."""
        ns = self.settings.namespace
        all_vpas: set[tuple[str, str]] = set()
        served: list[Vpa] = []
        invalid: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
        for obj in self.api.list(paths.vpas(ns), self.settings.page_size):
            meta = obj.get("metadata") or {}
            meta.pop("managedFields", None)
            key = (meta.get("namespace", ""), meta.get("name", ""))
            all_vpas.add(key)
            names = tuple(
                r.get("name", "") for r in (obj.get("spec") or {}).get("recommenders") or []
                if isinstance(r, Mapping)
            )
            if not Vpa(key[0], key[1], None, recommenders=names).served_by(self.settings.name):
                continue
            try:
                served.append(parse_vpa(obj))
            except ValueError as exc:
                invalid[key] = (obj, str(exc))
        index = TargetIndex()
        for kind in INTERMEDIATE:  # to climb from pods to their top controllers
            self._list_kind(kind, index)
        pods = []
        for obj in self.api.list(paths.pods(ns), self.settings.page_size):
            info = pod_info(obj, index)
            if info is not None:
                pods.append(info)
        self._check_unmatched_targets(served, pods, index)
        return ClusterView(all_vpas, served, invalid, index, pods)

    def _list_kind(self, kind: str, index: TargetIndex) -> None:
        prefix, plural = WELL_KNOWN[kind]
        try:
            for obj in self.api.list(
                paths.collection(prefix, plural, self.settings.namespace), self.settings.page_size
            ):
                index.add(kind, obj)
        except ApiException as exc:
            log.warning("listing %s: %s", plural, exc.reason)
            self._error("list_workloads")

    def _check_unmatched_targets(
        self, served: list[Vpa], pods: list[PodInfo], index: TargetIndex
    ) -> None:
        """Whether the targets of VPAs that matched no pod exist: one GET each, or one list
        per kind when many are unmatched. Targets with pods are known to exist."""
        with_pods = {(p.namespace, p.workload) for p in pods}
        unmatched: dict[str, list[TargetRefKey]] = defaultdict(list)
        for vpa in served:
            ref = vpa.target_ref
            if ref is None or (vpa.namespace, ref.workload) in with_pods:
                continue
            if ref.kind in WELL_KNOWN and not index.exists(vpa.namespace, ref.kind, ref.name):
                unmatched[ref.kind].append((vpa.namespace, ref.name))
        for kind, refs in unmatched.items():
            if len(refs) > UNMATCHED_GETS:
                self._list_kind(kind, index)
                continue
            prefix, plural = WELL_KNOWN[kind]
            for namespace, name in refs:
                try:
                    obj = self.api.get(f"{prefix}/namespaces/{namespace}/{plural}/{name}")
                except ApiException as exc:
                    log.warning("reading %s %s/%s: %s", kind, namespace, name, exc.reason)
                    self._error("list_workloads")
                    continue
                if obj is not None:
                    index.add(kind, obj)

    # -- inputs -------------------------------------------------------------------------
    def bootstrap(self, view: ClusterView) -> None:
        """Checkpoints first; then Prometheus history for aggregates without one."""
        vpas = {(v.namespace, v.name): v for v in view.served}
        try:
            loaded = load_checkpoints(
                self.api, self.model, vpas, self.settings.namespace, self.checkpoints.existing
            )
            log.info("loaded %d checkpoints", loaded)
        except ApiException as exc:
            log.warning("loading checkpoints: %s", exc.reason)
            self._error("checkpoints")
        if self.prometheus is not None:
            self._bootstrap_prometheus(view)
        if self.gpu is None:
            self.gpu = self._gpu_from_nodes()
        self.bootstrapped = True

    def _gpu_from_nodes(self) -> GpuModel | None:
        """The most common ``nvidia.com/gpu.product`` node label (GPU feature discovery)."""
        counts: dict[str, int] = defaultdict(int)
        try:
            for node in self.api.list("/api/v1/nodes", self.settings.page_size):
                labels = (node.get("metadata") or {}).get("labels") or {}
                if product := labels.get("nvidia.com/gpu.product"):
                    counts[product] += 1
        except ApiException as exc:
            log.info("GPU model from node labels unavailable: %s", exc.reason)
            return None
        return _gpu_of(max(counts, key=counts.__getitem__)) if counts else None

    def _bootstrap_prometheus(self, view: ClusterView) -> None:
        assert self.prometheus is not None
        now = self.clock()
        start = now - self.settings.history_length_s
        stats = FetchStats()
        try:
            samples = self.prometheus.history(start, now, view.workload_of(), stats)
            if self.gpu is None and (models := gpu_models(self.prometheus.client, now)):
                self.gpu = _gpu_of(models[0])
        except SourceUnavailable as exc:
            log.warning("history bootstrap skipped: %s", exc)
            self._error("prometheus")
            self.prometheus_backoff.failed()
            return
        # Aggregates restored from checkpoints already hold this history.
        restored = [
            f"{k.namespace}\0{k.workload}\0{k.container}"
            for row, k in enumerate(self.model.keys) if self.model.any_count[row] > 0
        ]
        if restored and len(samples):
            keys = samples.namespace + "\0" + samples.workload + "\0" + samples.container
            samples = samples.select(~np.isin(keys, np.array(restored, dtype=object)))
        self._ingest(samples, "prometheus", stats.dropped)
        self.prometheus_until = now
        log.info("bootstrapped %d samples from Prometheus in %d queries", len(samples),
                 stats.queries)

    def live_samples(self, view: ClusterView) -> None:
        """The metrics API every loop; Prometheus (at its resolution) when the API is down."""
        if self.metrics_backoff.ready():
            try:
                items = list(self.api.list(paths.pod_metrics(self.settings.namespace),
                                           self.settings.page_size))
                samples, dropped = pod_metrics_samples(items, view.workload_of(), self.clock())
                self._ingest(samples, "metrics_api", dropped)
                self.metrics_backoff.succeeded()
                return
            except (ApiException, OSError) as exc:
                delay = self.metrics_backoff.failed()
                log.warning("metrics API unavailable (retry in %.0fs): %s", delay,
                            getattr(exc, "reason", exc))
                self._error("metrics_api")
        self._prometheus_increment(view)

    def _prometheus_increment(self, view: ClusterView) -> None:
        if self.prometheus is None or not self.prometheus_backoff.ready():
            return
        now = self.clock()
        since = self.prometheus_until or now - self.settings.interval_s
        if now - since < self.prometheus.settings.resolution_s:
            return
        stats = FetchStats()
        try:
            samples = self.prometheus.history(since + 1, now, view.workload_of(), stats)
        except SourceUnavailable as exc:
            log.warning("prometheus unavailable: %s", exc)
            self._error("prometheus")
            self.prometheus_backoff.failed()
            return
        self.prometheus_backoff.succeeded()
        self.prometheus_until = now
        self._ingest(samples, "prometheus", stats.dropped)

    def _ingest(self, samples: Samples, source: str, dropped: int = 0) -> None:
        if len(samples):
            stats = self.model.ingest(samples.sorted_by_time())
            dropped += stats.dropped
            self.telemetry.samples.labels(source).inc(stats.accepted)
            self._report.samples += stats.accepted
        if dropped:
            self.telemetry.dropped.labels(source).inc(dropped)
            self._report.dropped += dropped

    def _error(self, stage: str) -> None:
        self.telemetry.errors.labels(stage).inc()
        report = getattr(self, "_report", None)
        if report is not None:
            report.errors[stage] = report.errors.get(stage, 0) + 1

    # -- the loop -----------------------------------------------------------------------
    def run_once(self, checkpoints: bool = True) -> LoopReport:
        """One iteration; API errors are counted and logged, never raised. With
        ``checkpoints=False`` the caller writes them (:meth:`write_checkpoints`) between loops.

        Objects alive before the loop (the model, caches) are frozen out of the cyclic garbage
        collector's view for its duration: decoding tens of thousands of listed objects would
        otherwise trigger full collections that walk all of them."""
        gc.freeze()
        try:
            return self._run_once(checkpoints)
        finally:
            gc.unfreeze()

    def _run_once(self, checkpoints: bool) -> LoopReport:
        started = mark = time.monotonic()
        self._report = report = LoopReport()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            report.phases[name] = report.phases.get(name, 0.0) + now - mark
            mark = now

        try:
            view = self.load_view()
        except (ApiException, OSError) as exc:
            log.warning("loading VPAs and pods failed: %s", getattr(exc, "reason", exc))
            self._error("list")
            report.seconds = time.monotonic() - started
            return report
        report.vpas, report.served, report.pods = (
            len(view.all_vpas), len(view.served) + len(view.invalid), len(view.pods)
        )
        phase("list")
        if not self.bootstrapped:
            self.bootstrap(view)
            phase("bootstrap")
        self.live_samples(view)
        oom = oom_samples(view.pods, self.oom_seen)
        self._ingest(oom, "pods")
        phase("metrics")
        outcomes, targets = self.outcomes(view)
        phase("recommend")
        self.write_statuses(view, outcomes, report)
        phase("status")
        self.checkpoint_targets = targets
        if checkpoints:
            report.checkpoints = self.write_checkpoints()
            phase("checkpoints")
        if self.clock() - self.last_gc >= self.settings.gc_interval_s:
            try:
                report.deleted_checkpoints = collect_garbage(
                    self.api, view.all_vpas, self.settings.namespace
                )
                self.telemetry.checkpoints_deleted.inc(report.deleted_checkpoints)
                self.last_gc = self.clock()
            except (ApiException, OSError) as exc:
                log.warning("checkpoint GC: %s", exc)
                self._error("gc")
            phase("gc")
        report.seconds = time.monotonic() - started
        self.telemetry.loop_seconds.observe(report.seconds)
        self.telemetry.vpas.set(report.served)
        self.telemetry.aggregates.set(len(self.model))
        self.last_loop_end = self.clock()
        return report

    def write_checkpoints(self, deadline_s: float | None = None) -> int:
        """Write due checkpoints of the last loop's targets (oldest first, within the
        deadline); returns how many were written."""
        if deadline_s is not None:
            self.checkpoints.deadline_s = min(deadline_s, self.settings.checkpoint_deadline_s)
        try:
            written = self.checkpoints.write(self.model, self.checkpoint_targets)
        except (ApiException, OSError) as exc:
            log.warning("checkpoints: %s", exc)
            self._error("checkpoints")
            return 0
        finally:
            self.checkpoints.deadline_s = self.settings.checkpoint_deadline_s
        self.telemetry.checkpoints.inc(written)
        return written

    def outcomes(
        self, view: ClusterView
    ) -> tuple[dict[tuple[str, str], tuple[Mapping[str, Any], Outcome]],
               list[tuple[Vpa, ContainerKey]]]:
        """Each served VPA's outcome (keyed by namespace and name) and the checkpoint targets."""
        pods_by_workload: dict[tuple[str, str], list[PodInfo]] = defaultdict(list)
        for pod in view.pods:
            pods_by_workload[(pod.namespace, pod.workload)].append(pod)
        keys_by_workload: dict[tuple[str, str], list[int]] = defaultdict(list)
        for row, key in enumerate(self.model.keys):
            keys_by_workload[(key.namespace, key.workload)].append(row)
        out: dict[tuple[str, str], tuple[Mapping[str, Any], Outcome]] = {
            key: (obj, Outcome(config_error=reason))
            for key, (obj, reason) in view.invalid.items()
        }
        rows: list[list[int]] = []  # per resolved VPA
        resolved: list[Vpa] = []
        targets: list[tuple[Vpa, ContainerKey]] = []
        for vpa in view.served:
            ref = vpa.target_ref
            assert ref is not None  # parse_vpa requires it
            workload = (vpa.namespace, ref.workload)
            pods = pods_by_workload.get(workload, [])
            if not pods and not view.index.exists(vpa.namespace, ref.kind, ref.name):
                reason = f"Cannot resolve targetRef {ref.kind}/{ref.name}: not found"
                out[(vpa.namespace, vpa.name)] = (vpa.raw, Outcome(config_error=reason))
                continue
            resolved.append(vpa)
            containers = {c for p in pods for c in p.containers}
            rows.append([])
            light = Vpa(vpa.namespace, vpa.name, ref)  # kept until the checkpoints: no raw
            for row in keys_by_workload.get(workload, []):
                key = self.model.keys[row]
                if not containers or key.container in containers:
                    rows[-1].append(row)
                    targets.append((light, key))
        recs = self._recommend(resolved, rows)
        for vpa in resolved:
            assert vpa.target_ref is not None
            workload = (vpa.namespace, vpa.target_ref.workload)
            outcome = Outcome(recs.get(workload, []), bool(pods_by_workload.get(workload)))
            out[(vpa.namespace, vpa.name)] = (vpa.raw, outcome)
        return out, targets

    def _recommend(
        self, vpas: list[Vpa], rows: list[list[int]]
    ) -> dict[tuple[str, str], list[ContainerRecommendation]]:
        """Recommendations per (namespace, workload), computed in batches of about
        ``RECOMMEND_BATCH`` rows (whole VPAs) to bound the estimators' temporary arrays."""
        grouped: dict[tuple[str, str], list[ContainerRecommendation]] = defaultdict(list)
        batch_vpas: list[Vpa] = []
        batch_rows: list[int] = []

        def flush() -> None:
            with_history = [r for r in batch_rows if self.model.any_count[r] > 0]
            if with_history:
                for rec in recommend(self.model, self.strategy, batch_vpas, self.gpu,
                                     np.array(with_history, dtype=np.intp)):
                    grouped[(rec.namespace, rec.workload)].append(rec)
            batch_vpas.clear()
            batch_rows.clear()

        for vpa, vpa_rows in zip(vpas, rows, strict=True):
            batch_vpas.append(vpa)
            batch_rows.extend(vpa_rows)
            if len(batch_rows) >= RECOMMEND_BATCH:
                flush()
        flush()
        return grouped

    def write_statuses(
        self,
        view: ClusterView,
        outcomes: Mapping[tuple[str, str], tuple[Mapping[str, Any], Outcome]],
        report: LoopReport,
    ) -> None:
        """Patch the status of VPAs whose status changed meaningfully, ``workers`` at once."""
        now, tolerance = self.clock(), self.settings.status_tolerance
        patches = []
        for key, (obj, outcome) in outcomes.items():
            old = obj.get("status") or {}
            if self.statuses.unchanged(key, obj, outcome, tolerance):
                report.unchanged += 1
                continue
            new = desired_status(outcome, old, self.rounding, now)
            if changed_meaningfully(old, new, tolerance):
                patches.append((*key, new))
            else:
                report.unchanged += 1
                self.statuses.remember(key, obj)
        self.telemetry.status_skipped.inc(report.unchanged)

        def patch(item: tuple[str, str, dict[str, Any]]) -> bool:
            namespace, name, status = item
            try:
                written = self.api.merge_patch(
                    paths.vpa_status(namespace, name), {"status": status}
                )
                self.statuses.remember((namespace, name), written)
                return True
            except (ApiException, OSError) as exc:
                log.warning("status of %s/%s: %s", namespace, name,
                            getattr(exc, "reason", exc))
                self.statuses.forget((namespace, name))
                return False

        if not patches:
            return
        with ThreadPoolExecutor(max_workers=max(self.settings.workers, 1)) as pool:
            results = list(pool.map(patch, patches))
        report.status_writes = sum(results)
        failed = len(results) - report.status_writes
        if failed:
            self.telemetry.errors.labels("status").inc(failed)
            report.errors["status"] = report.errors.get("status", 0) + failed
        self.telemetry.status_writes.inc(report.status_writes)

    def run(self, stop: threading.Event, elector: LeaseElector | None = None) -> None:
        """Loop every interval until ``stop``; with an elector, only while leading."""
        retry = self.settings.retry_period_s
        while not stop.is_set():
            if elector is not None:
                leading = self.leading = elector.try_acquire_or_renew()
                self.telemetry.leader.set(1 if leading else 0)
                if not leading:
                    if self.bootstrapped:
                        log.info("lost leadership: dropping state")
                        self.reset()
                    stop.wait(retry)
                    continue
            self.leading = True
            report = self.run_once(checkpoints=False)
            deadline = time.monotonic() + max(self.settings.interval_s - report.seconds, 0.0)
            # Checkpoints are written in the idle part of the interval, not inside the loop.
            report.checkpoints = self.write_checkpoints(
                max(min(deadline - time.monotonic(), self.settings.interval_s) / 2, 0.0)
            )
            log.info(
                "loop: %d VPAs served, %d pods, %d samples, %d status writes, "
                "%d unchanged in %.2fs; %d checkpoints",
                report.served, report.pods, report.samples, report.status_writes,
                report.unchanged, report.seconds, report.checkpoints,
            )
            while not stop.is_set() and time.monotonic() < deadline:
                stop.wait(min(retry, max(deadline - time.monotonic(), 0.0)))
                if elector is not None and not elector.try_acquire_or_renew():
                    self.telemetry.leader.set(0)
                    self.leading = False
                    break
        if elector is not None:
            elector.release()
        self.leading = False


def _gpu_of(product: str) -> GpuModel | None:
    """The GPU model for a product name (dcgm ``modelName``, node ``nvidia.com/gpu.product``)."""
    name = model_from_product(product)
    try:
        return gpu_model(name)
    except ValueError:
        return None


def served(vpas: Iterable[Vpa], name: str) -> list[Vpa]:
    """The VPAs a recommender called ``name`` serves."""
    return [v for v in vpas if v.served_by(name)]
