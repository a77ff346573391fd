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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.checkpoints import CheckpointWriter, collect_garbage, load_checkpoints
from recommender.cluster.feed import UsageFeed
from recommender.cluster.forecasts import ForecastService
from recommender.cluster.leader import LeaseElector
from recommender.cluster.pods import UPSTREAM_COMPONENTS, oom_samples
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.status import Outcome
from recommender.cluster.targets import PodInfo, discover
from recommender.cluster.telemetry import Telemetry
from recommender.cluster.view import ClusterView, load_view
from recommender.cluster.writer import StatusWriter
from recommender.history import Samples
from recommender.input.prometheus import PrometheusSource
from recommender.logic.gpu import GpuModel, GpuModels, gpu_model
from recommender.logic.recommend import (
    BY_UPDATE_MODE,
    HELD,
    NEXT_HOURS,
    configure_model,
    recommend,
)
from recommender.logic.strategies import STRATEGIES, prepare_model
from recommender.metrics_api.board import MetricBoard
from recommender.model.state import ContainerKey, UsageModel
from recommender.owners import Discovery
from recommender.quantity import Rounding
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import IN_PLACE_MODES, Vpa

log = logging.getLogger(__name__)
RECOMMEND_BATCH = 4096
DISCOVERY_REFRESH_S = 300.0  # API discovery (custom kinds with /scale) looked at again
DISCOVERY_RETRY_S = 30.0  # sooner when a VPA targets a kind discovery does not know
GPU_MODELS_REFRESH_S = 600.0  # how often each workload's GPU model is looked up again
UPSTREAM_WARNINGS = {
    "vpa-recommender": "upstream's vpa-recommender runs ({pod}): VPAs that name no "
    "recommender are its (with --serve-unnamed=auto); name tidal in spec.recommenders to move "
    "one over",
    "vpa-admission-controller": "upstream's vpa-admission-controller runs ({pod}) beside "
    "Tidal's webhook: both size new pods, the one called last wins; remove one "
    "(docs/install.md, Beside upstream VPA)",
    "vpa-updater": "upstream's vpa-updater runs ({pod}) beside tidal-updater: both evict or "
    "resize pods; remove one (docs/install.md, Beside upstream VPA)",
}


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


class Recommender:
    """The in-cluster recommender's state and loop."""

    def __init__(
        self,
        settings: RecommenderSettings,
        api: KubeApi,
        prometheus: PrometheusSource | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
        board: MetricBoard | None = None,
    ) -> None:
        self.settings, self.api, self.prometheus = settings, api, prometheus
        self.telemetry = telemetry or Telemetry()
        self.board = board or MetricBoard()
        self.forecasts = ForecastService(self.board, self.telemetry.registry,
                                         settings.forecast_step_s, settings.forecast_lead_s)
        self.clock = clock
        self.strategy = STRATEGIES.create(settings.strategy)
        self.gpu: GpuModel | None = gpu_model(settings.gpu_model)
        self.rounding = Rounding(settings.round_cpu_millicores, settings.round_memory_bytes)
        self.feed = UsageFeed(api, settings, prometheus, self._error, clock)
        self.gpu_detected = False
        self.discovery, self.discovered_at = Discovery(), -math.inf
        self.gpu_of: GpuModels = {}  # by workload, refreshed every GPU_MODELS_REFRESH_S
        self.gpu_of_at = -math.inf
        self.upstream_seen: set[str] = set()
        self.last_loop_end: float | None = None
        self.leading = False
        self.reset()

    def reset(self) -> None:
        """Forget all state (on start and when leadership is lost)."""
        self.model = prepare_model(UsageModel(), self.strategy)
        self.checkpoints = CheckpointWriter(
            self.api, self.settings.checkpoint_interval_s, self.settings.checkpoint_deadline_s,
            self.settings.workers, self.clock,
        )
        self.oom_seen: set[tuple[str, str, str, float]] = set()
        self.writer = StatusWriter(
            self.api, self.rounding, self.settings.status_tolerance, self.settings.workers,
            self.telemetry, self.clock,
        )
        self.last_gc = -math.inf
        self.bootstrapped = False
        if hasattr(self, "feed"):
            self.feed.reset()
        self.checkpoint_targets: list[tuple[Vpa, ContainerKey]] = []
        self.forecasts.reset()

    # -- reading the cluster ------------------------------------------------------------
    def load_view(self) -> ClusterView:
        """VPAs (served ones parsed, invalid ones with their reason) and pods. API discovery
        (the kinds with /scale) is refreshed every DISCOVERY_REFRESH_S, and sooner when a VPA
        targets a kind it does not know (a CRD installed since)."""
        now = self.clock()
        if now - self.discovered_at >= DISCOVERY_REFRESH_S:
            self._discover(now)
        view = load_view(self.api, self.settings, self._error, self.discovery)
        if view.unknown_kinds and now - self.discovered_at >= DISCOVERY_RETRY_S:
            self._discover(now)
            view = load_view(self.api, self.settings, self._error, self.discovery)
        return view

    def _discover(self, now: float) -> None:
        def failed(group_version: str, exc: Exception) -> None:
            log.warning("API discovery of %s: %s", group_version, exc)

        try:
            self.discovery = discover(self.api.get, failed)
            self.discovered_at = now
        except ApiException as exc:  # the loop's own list reports an unreachable API
            log.warning("API discovery: %s; custom kinds with /scale are not known", exc.reason)
            self.discovered_at = now - DISCOVERY_REFRESH_S + DISCOVERY_RETRY_S

    # -- inputs -------------------------------------------------------------------------
    def bootstrap(self, view: ClusterView) -> None:
        """Checkpoints of the served VPAs (Prometheus history follows through the feed)."""
        vpas = {(v.namespace, v.name): v for v in view.served}
        try:
            loaded = load_checkpoints(
                self.api, self.model, vpas, self.settings.namespace, self.checkpoints.existing
            )
            log.info("loaded %d checkpoints", loaded)
        except ApiException as exc:
            log.warning("loading checkpoints: %s", exc.reason)
            self._error("checkpoints")
        self.bootstrapped = True

    def restored(self) -> list[ContainerKey]:
        """Aggregates holding history (restored from checkpoints) before any source."""
        return [k for row, k in enumerate(self.model.keys) if self.model.any_count[row] > 0]

    def _ingest(
        self, samples: Samples, source: str, dropped: int = 0, minutes_per_sample: float = 1.0
    ) -> None:
        if len(samples):
            stats = self.model.ingest(samples.sorted_by_time(), minutes_per_sample)
            dropped += stats.dropped
            self.telemetry.samples.labels(source).inc(stats.accepted)
            self._report.samples += stats.accepted
        if dropped:
            self.telemetry.dropped.labels(source).inc(dropped)
            self._report.dropped += dropped

    def _error(self, stage: str, count: int = 1) -> None:
        self.telemetry.errors.labels(stage).inc(count)
        report = getattr(self, "_report", None)
        if report is not None:
            report.errors[stage] = report.errors.get(stage, 0) + count

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
            self.forecasts.publish(self.clock())  # from the history so far; stale ones lapse
            report.seconds = time.monotonic() - started
            return report
        self._check_upstream(view.pods)
        report.vpas, report.served, report.pods = (
            len(view.all_vpas), len(view.served) + len(view.invalid), len(view.pods)
        )
        configure_model(self.model, view.served)  # per-VPA OOM bumps and memory windows
        phase("list")
        if not self.bootstrapped:
            self.bootstrap(view)
            phase("bootstrap")
        self.forecasts.refresh(self.api, self.settings.namespace, self.settings.page_size)
        self.forecasts.observe_pods(view.pods)
        if self.prometheus is not None:
            self.forecasts.backfill(self.prometheus, view.workload_of(), self.clock())
            self.forecasts.poll_queries(self.prometheus, self.clock())
        for batch in self.feed.batches(view, self.restored() if self.feed.history_pending else []):
            self._ingest(batch.samples, batch.source, batch.dropped, batch.minutes_per_sample)
            self.forecasts.observe(batch.samples)
        if self.gpu is None and not self.gpu_detected:
            self.gpu, self.gpu_detected = self.feed.gpu_model(), True
        if not self.settings.gpu_model and self.clock() - self.gpu_of_at >= GPU_MODELS_REFRESH_S:
            self.gpu_of, self.gpu_of_at = self.feed.workload_gpu_models(view), self.clock()
        oom = oom_samples(view.pods, self.oom_seen)
        self._ingest(oom, "pods")
        phase("metrics")
        self.forecasts.publish(self.clock())
        phase("forecast")
        outcomes, targets = self.outcomes(view)
        phase("recommend")
        writes = self.writer.write(outcomes)
        report.status_writes, report.unchanged = writes.written, writes.unchanged
        if writes.failed:
            self._error("status", writes.failed)
        phase("status")
        self.checkpoint_targets = targets
        if checkpoints:
            report.checkpoints = self.write_checkpoints()
            phase("checkpoints")
        if self.clock() - self.last_gc >= self.settings.gc_interval_s:
            # Pods gone for a whole memory window (CronJob runs, old ReplicaSets) hold nothing
            # that can still change: drop them so the model does not grow with pod churn.
            forgotten = self.model.forget_idle_slots(
                self.clock() - self.model.settings.memory_window_s
            )
            if forgotten:
                log.info("forgot %d idle pod containers", forgotten)
            # As upstream: an aggregate with no sample for its memory window x count (8 days
            # by default, per VPA memoryAggregationIntervalSeconds/Count) loses its history.
            expired = self.model.expire(self.clock())
            if expired:
                log.info("forgot the history of %d containers idle for their memory windows",
                         expired)  # fmt: skip
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

    def _check_upstream(self, pods: list[PodInfo]) -> None:
        """Export upstream VPA's pods per component; warn once per pod where two parts would
        do one job (docs/install.md, "Beside upstream VPA")."""
        counts = {c: 0 for c in UPSTREAM_COMPONENTS}
        for pod in pods:
            if pod.upstream:
                counts[pod.upstream] += 1
                if pod.name not in self.upstream_seen:
                    self.upstream_seen.add(pod.name)
                    log.warning("%s", UPSTREAM_WARNINGS[pod.upstream].format(
                        pod=f"{pod.namespace}/{pod.name}"))
        for component, count in counts.items():
            self.telemetry.upstream.labels(component).set(count)

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
        recs = self._recommend(resolved, rows, HELD)
        hourly: dict[tuple[str, str], list[ContainerRecommendation]] = {}
        if self.settings.horizon == BY_UPDATE_MODE:  # next-hours targets for in-place VPAs
            moving = [(v, r) for v, r in zip(resolved, rows, strict=True)
                      if v.update_mode in IN_PLACE_MODES]  # fmt: skip
            hourly = self._recommend([v for v, _ in moving], [r for _, r in moving], NEXT_HOURS)
        for vpa in resolved:
            assert vpa.target_ref is not None
            workload = (vpa.namespace, vpa.target_ref.workload)
            next_hours = hourly.get(workload) if vpa.update_mode in IN_PLACE_MODES else None
            outcome = Outcome(recs.get(workload, []), bool(pods_by_workload.get(workload)),
                              next_hours=next_hours)
            out[(vpa.namespace, vpa.name)] = (vpa.raw, outcome)
        return out, targets

    def _recommend(
        self, vpas: list[Vpa], rows: list[list[int]], horizon: str
    ) -> dict[tuple[str, str], list[ContainerRecommendation]]:
        """Recommendations for ``horizon`` per (namespace, workload), in batches of about
        ``RECOMMEND_BATCH`` rows (whole VPAs) to bound the estimators' temporary arrays."""
        grouped: dict[tuple[str, str], list[ContainerRecommendation]] = defaultdict(list)
        batch_vpas: list[Vpa] = []
        batch_rows: list[int] = []

        def flush() -> None:
            # dict: two VPAs on one workload share its rows (the earliest VPA's policy applies)
            with_history = [r for r in dict.fromkeys(batch_rows) if self.model.any_count[r] > 0]
            if with_history:
                for rec in recommend(self.model, self.strategy, batch_vpas, self.gpu,
                                     np.array(with_history, dtype=np.intp), horizon,
                                     self.gpu_of):
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
