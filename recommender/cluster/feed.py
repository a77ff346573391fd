"""Where the loop's usage comes from: Prometheus history (bootstrap, retried until it
succeeds), the metrics API every loop, and Prometheus increments while the metrics API is
down. Unreachable sources back off exponentially; nothing here raises."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.settings import RecommenderSettings
from recommender.cluster.view import ClusterView
from recommender.history import Samples
from recommender.input.backoff import Backoff, SourceUnavailable
from recommender.input.dcgm import gpu_models
from recommender.input.metrics_api import pod_metrics_samples
from recommender.input.prometheus import FetchStats, PrometheusSource
from recommender.logic.gpu import GpuModel, GpuModels, product_gpu_model
from recommender.model.state import ContainerKey

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 600.0
GPU_MODEL_WINDOW_S = 3600.0  # dcgm-exporter series looked at for each workload's GPU model


class Batch(NamedTuple):
    source: str  # metrics_api | prometheus
    samples: Samples
    dropped: int  # malformed values already dropped by the source
    minutes_per_sample: float = 1.0  # the time each sample stands for (Prometheus: its step)


class UsageFeed:
    """Usage samples for one leader's model."""

    def __init__(
        self,
        api: KubeApi,
        settings: RecommenderSettings,
        prometheus: PrometheusSource | None,
        on_error: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.settings, self.prometheus = api, settings, prometheus
        self.on_error, self.clock = on_error, clock
        self.metrics_backoff = Backoff(initial_s=settings.interval_s, max_s=MAX_BACKOFF_S)
        self.prometheus_backoff = Backoff(initial_s=settings.interval_s, max_s=MAX_BACKOFF_S)
        self.reset()

    def reset(self) -> None:
        self.history_pending = self.prometheus is not None
        self.prometheus_until: float | None = None

    def batches(self, view: ClusterView, restored: Sequence[ContainerKey]) -> list[Batch]:
        """This loop's samples: pending history (minus aggregates ``restored`` from
        checkpoints), then the live source."""
        out = []
        if self.history_pending and self.prometheus_backoff.ready():
            history = self._history(view, restored)
            if history is not None:
                out.append(history)
        if self.metrics_backoff.ready():
            live = self._metrics_api(view)
            if live is not None:
                return [*out, live]
        if not self.history_pending and (increment := self._increment(view)) is not None:
            out.append(increment)
        return out

    def _history(self, view: ClusterView, restored: Sequence[ContainerKey]) -> Batch | None:
        assert self.prometheus is not None
        now = self.clock()
        stats = FetchStats()
        try:
            samples = self.prometheus.history(
                now - self.settings.history_length_s, now, view.workload_of(), stats
            )
        except SourceUnavailable as exc:
            delay = self.prometheus_backoff.failed()
            log.warning("history bootstrap failed (retry in %.0fs): %s", delay, exc)
            self.on_error("prometheus")
            return None
        self.prometheus_backoff.succeeded()
        self.history_pending, self.prometheus_until = False, now
        if restored and len(samples):
            known = np.array([f"{k.namespace}\0{k.workload}\0{k.container}" for k in restored],
                             dtype=object)
            keys = samples.namespace + "\0" + samples.workload + "\0" + samples.container
            samples = samples.select(~np.isin(keys, known))
        log.info("bootstrapped %d samples from Prometheus in %d queries", len(samples),
                 stats.queries)
        return Batch("prometheus", samples, stats.dropped, self._step_minutes())

    def _metrics_api(self, view: ClusterView) -> Batch | None:
        try:
            items = list(self.api.list(paths.pod_metrics(self.settings.namespace),
                                       self.settings.page_size))
        except (ApiException, OSError) as exc:
            delay = self.metrics_backoff.failed()
            log.warning("metrics API unavailable (retry in %.0fs): %s", delay,
                        getattr(exc, "reason", exc))
            self.on_error("metrics_api")
            return None
        self.metrics_backoff.succeeded()
        samples, dropped = pod_metrics_samples(items, view.workload_of(), self.clock())
        return Batch("metrics_api", samples, dropped)

    def _increment(self, view: ClusterView) -> Batch | None:
        """Prometheus since the last fetch, once a resolution step has passed."""
        if self.prometheus is None or not self.prometheus_backoff.ready():
            return None
        now = self.clock()
        since = self.prometheus_until or now - self.settings.interval_s
        if now - since < self.prometheus.settings.resolution_s:
            return None
        stats = FetchStats()
        try:
            samples = self.prometheus.history(since + 1, now, view.workload_of(), stats)
        except SourceUnavailable as exc:
            self.prometheus_backoff.failed()
            log.warning("prometheus unavailable: %s", exc)
            self.on_error("prometheus")
            return None
        self.prometheus_backoff.succeeded()
        self.prometheus_until = now
        return Batch("prometheus", samples, stats.dropped, self._step_minutes())

    def _step_minutes(self) -> float:
        return self.prometheus.settings.resolution_s / 60.0 if self.prometheus else 1.0

    def gpu_model(self) -> GpuModel | None:
        """dcgm-exporter's most common ``modelName``, else the most common node label
        ``nvidia.com/gpu.product`` (GPU feature discovery)."""
        counts: dict[str, int] = defaultdict(int)
        try:
            if self.prometheus is not None:
                for name in gpu_models(self.prometheus.client, self.clock())[:1]:
                    counts[name] += 1
            if not counts:
                for node in self.api.list("/api/v1/nodes", self.settings.page_size):
                    labels = (node.get("metadata") or {}).get("labels") or {}
                    if product := labels.get("nvidia.com/gpu.product"):
                        counts[product] += 1
        except (ApiException, SourceUnavailable) as exc:
            log.info("GPU model not detected: %s", exc)
        if not counts:
            return None
        return product_gpu_model(max(counts, key=counts.__getitem__))

    def workload_gpu_models(self, view: ClusterView) -> GpuModels:
        """Each workload's GPU model where a cluster has several: dcgm-exporter's
        ``modelName`` over the last hour, else the ``nvidia.com/gpu.product`` label of the
        nodes its pods run on."""
        now = self.clock()
        try:
            if self.prometheus is not None:
                found = self.prometheus.gpu_models(now - GPU_MODEL_WINDOW_S, now,
                                                   view.workload_of())
                if found:
                    return found
            nodes: dict[str, GpuModel] = {}
            for node in self.api.list("/api/v1/nodes", self.settings.page_size):
                meta = node.get("metadata") or {}
                product = (meta.get("labels") or {}).get("nvidia.com/gpu.product")
                if product and (model := product_gpu_model(product)) is not None:
                    nodes[str(meta.get("name", ""))] = model
        except (ApiException, SourceUnavailable) as exc:
            log.info("GPU models by workload not detected: %s", exc)
            return {}
        return {(p.namespace, p.workload): nodes[p.node] for p in view.pods if p.node in nodes}
