"""``tidal_forecast`` for the HPAs that ask for it: which workloads, their demand, the values.

An HPA asks by listing the External metric ``tidal_forecast`` with a selector on the labels
``workload`` (the target's name), ``kind`` and ``signal`` (``cpu``: cores, ``gpu``: busy
GPUs). How far ahead to look: the HPA's annotation ``tidal.dev/forecast-lead`` (e.g. ``10m``),
else the workload's cold start measured from its pods (creation to Ready, the median of its
ready pods) plus one history step and one HPA sync, else ``--forecast-lead``. Every loop the service
keeps those workloads' demand (:class:`~recommender.model.demand.DemandHistory`), forecasts
the peak over the lead, publishes it on the board the external metrics API serves and as the
gauge ``tidal_forecast`` on ``/metrics`` (for KEDA and other Prometheus-based scalers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Gauge

from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.paths import collection
from recommender.cluster.targets import PodInfo
from recommender.duration import parse_duration
from recommender.history import CPU, GPU, Samples
from recommender.input.backoff import SourceUnavailable
from recommender.input.prometheus import PrometheusSource, WorkloadOf
from recommender.metrics_api.board import MetricBoard, MetricValue
from recommender.model.demand import DemandHistory

log = logging.getLogger(__name__)

METRIC = "tidal_forecast"
LEAD_ANNOTATION = "tidal.dev/forecast-lead"
QUERY_ANNOTATION = "tidal.dev/forecast-query."  # + signal name: the PromQL of that signal
SIGNALS = {"cpu": CPU, "gpu": GPU}
QUERY_PREFIX = "promql:"  # history keys of PromQL signals
HPA_API = "/apis/autoscaling/v2"
HPA_SYNC_S = 15.0  # kube-controller-manager's --horizontal-pod-autoscaler-sync-period


@dataclass(frozen=True)
class ForecastRequest:
    """One workload and signal an HPA scales on."""

    namespace: str
    kind: str
    name: str
    signal: str
    lead_s: float | None  # the HPA's tidal.dev/forecast-lead; None: measured or the default
    query: str | None = None  # PromQL of a signal other than cpu and gpu

    @property
    def key(self) -> tuple[str, str, str]:
        resource = SIGNALS.get(self.signal) or f"{QUERY_PREFIX}{self.signal}"
        return (self.namespace, f"{self.kind}/{self.name}", resource)

    @property
    def labels(self) -> dict[str, str]:
        return {"workload": self.name, "kind": self.kind, "signal": self.signal}


def forecast_requests(hpa: Mapping[str, Any]) -> tuple[list[ForecastRequest], list[str]]:
    """The requests of one ``autoscaling/v2`` HPA, and problems to log (bad lead or signal)."""
    meta, spec = hpa.get("metadata") or {}, hpa.get("spec") or {}
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    target = spec.get("scaleTargetRef") or {}
    problems: list[str] = []
    lead: float | None = None
    raw_lead = (meta.get("annotations") or {}).get(LEAD_ANNOTATION)
    if raw_lead is not None:
        try:
            lead = parse_duration(raw_lead)
            if lead <= 0:
                raise ValueError(f"must be positive, got {raw_lead!r}")
        except ValueError as exc:
            problems.append(f"HorizontalPodAutoscaler {name}: annotation {LEAD_ANNOTATION}: "
                            f"{exc}; using the measured cold start")
            lead = None
    requests = []
    for metric in spec.get("metrics") or []:
        external = (metric or {}).get("external") or {}
        if metric.get("type") != "External" or (external.get("metric") or {}).get("name") != METRIC:
            continue
        labels = ((external.get("metric") or {}).get("selector") or {}).get("matchLabels") or {}
        signal = labels.get("signal", "cpu")
        query = (meta.get("annotations") or {}).get(QUERY_ANNOTATION + signal)
        if signal not in SIGNALS and not query:
            problems.append(f"HorizontalPodAutoscaler {name}: tidal_forecast signal {signal!r} "
                            f"is not one of {', '.join(SIGNALS)} and the HPA has no annotation "
                            f"{QUERY_ANNOTATION}{signal} with its PromQL")
            continue
        workload = labels.get("workload", target.get("name", ""))
        kind = labels.get("kind", target.get("kind", "")) if workload == target.get("name") \
            else labels.get("kind", "Deployment")
        if workload and kind:
            requests.append(ForecastRequest(meta.get("namespace", ""), kind, workload, signal,
                                            lead, None if signal in SIGNALS else query))
    return requests, problems


class ForecastService:
    """The requested workloads' demand history and their published forecasts."""

    def __init__(self, board: MetricBoard, registry: CollectorRegistry | None = None,
                 step_s: float = 300.0, default_lead_s: float = 900.0) -> None:
        self.board, self.default_lead_s, self.step_s = board, default_lead_s, step_s
        self._logged: set[str] = set()
        registry = registry or CollectorRegistry()
        self.lead_gauge = Gauge("tidal_forecast_lead_seconds", "How far ahead tidal_forecast "
                                "looks: the HPA's annotation, else the measured cold start "
                                "plus one step", ["namespace", "workload", "kind", "signal"],
                                registry=registry)
        self.gauge = Gauge(METRIC, "Tidal's forecast of the workload's demand peak over the "
                           "coming lead (cores or busy GPUs)",
                           ["namespace", "workload", "kind", "signal"],
                           registry=registry)
        self.reset()

    def reset(self) -> None:
        """Forget history and values (a replica that stops leading serves nothing stale)."""
        self.history = DemandHistory(self.step_s)
        self.requests: list[ForecastRequest] = []
        self._backfilled: set[tuple[str, str, str]] = set()
        self.cold_starts: dict[tuple[str, str], float] = {}
        self._polled: dict[tuple[str, str, str], float] = {}
        self.board.publish(METRIC, [])
        self.gauge.clear()

    def refresh(self, api: KubeApi, namespace: str | None, page_size: int = 500) -> None:
        """Re-read which workloads HPAs want forecasts for (kept as is if the list fails)."""
        try:
            hpas = list(api.list(collection(HPA_API, "horizontalpodautoscalers", namespace),
                                 page_size))
        except (ApiException, OSError) as exc:
            self._warn_once(f"listing HorizontalPodAutoscalers: {getattr(exc, 'reason', exc)}")
            return
        self.set_requests(hpas)

    def set_requests(self, hpas: Iterable[Mapping[str, Any]]) -> None:
        requests: dict[tuple[str, str, str], ForecastRequest] = {}
        for hpa in hpas:
            found, problems = forecast_requests(hpa)
            for problem in problems:
                self._warn_once(problem)
            for r in found:  # two HPAs on one series: the longer explicit lead serves both
                if r.key not in requests or (requests[r.key].lead_s or 0) < (r.lead_s or 0):
                    requests[r.key] = r
        self.requests = list(requests.values())
        self.history.track(r.key for r in self.requests)

    def backfill(self, prometheus: PrometheusSource, workload_of: WorkloadOf | None,
                 now: float) -> int:
        """Fill newly requested workloads' history from Prometheus (the last ``days``, at the
        history's step), so their first forecasts already know the daily tide; a failed fetch
        is retried next loop. Returns the samples read."""
        pending = [key for key in self.history.rows
                   if key not in self._backfilled and not key[2].startswith(QUERY_PREFIX)]
        read = 0
        for namespace in sorted({key[0] for key in pending}):
            resources = sorted({key[2] for key in pending if key[0] == namespace})
            try:
                samples = prometheus.history(
                    now - self.history.keep * self.history.step, now, workload_of,
                    resources=resources, step=self.step_s, namespace=namespace)
            except SourceUnavailable as exc:
                log.warning("forecast history from Prometheus (namespace %s): %s", namespace,
                            exc)
                return read
            self.history.add(samples)
            read += len(samples)
            self._backfilled.update(key for key in pending if key[0] == namespace)
        return read

    def observe_pods(self, pods: Iterable[PodInfo]) -> None:
        """Measure each workload's cold start: the median creation-to-Ready time of its ready
        pods (remembered once its pods are old)."""
        times: dict[tuple[str, str], list[float]] = {}
        for pod in pods:
            if pod.ready_after_s is not None:
                times.setdefault((pod.namespace, pod.workload), []).append(pod.ready_after_s)
        for key, seconds in times.items():
            self.cold_starts[key] = float(np.median(seconds))

    def lead_of(self, request: ForecastRequest) -> float:
        """The HPA's explicit lead; else the measured cold start plus one history step (and
        one HPA sync); else ``--forecast-lead``."""
        if request.lead_s is not None:
            return request.lead_s
        cold = self.cold_starts.get((request.namespace, f"{request.kind}/{request.name}"))
        if cold is None:
            return self.default_lead_s
        return cold + self.step_s + HPA_SYNC_S

    def _warn_once(self, message: str) -> None:
        """Warn the first time, then at debug level: a loop repeats every minute."""
        if message in self._logged:
            log.debug("%s", message)
            return
        if len(self._logged) > 1000:
            self._logged.clear()
        self._logged.add(message)
        log.warning("%s", message)

    def poll_queries(self, prometheus: PrometheusSource, now: float) -> int:
        """Evaluate the PromQL signals since their last poll (the last ``days`` at first), at
        the history's step, summing the series each returns; returns the points read."""
        read = 0
        for r in self.requests:
            if r.query is None:
                continue
            since = self._polled.get(r.key, now - self.history.keep * self.step_s)
            start = (np.floor(since / self.step_s) + 1) * self.step_s
            if start > now:
                continue
            try:
                series = prometheus.client.query_range(r.query, start, now, self.step_s)
            except SourceUnavailable as exc:
                self._warn_once(f"HorizontalPodAutoscaler for {r.namespace}/{r.name}: "
                                f"{QUERY_ANNOTATION}{r.signal}: {exc}")
                continue
            totals: dict[float, float] = {}
            for item in series:
                for t, v in item.get("values") or []:
                    value = float(v)
                    if np.isfinite(value):
                        totals[float(t)] = totals.get(float(t), 0.0) + value
            if totals:
                times = np.array(sorted(totals))
                # A point at t is the value over the step ending at t: its bucket is the one
                # before t, so a forecast at t sees it.
                self.history.put(r.key, times - self.step_s / 2,
                                 np.array([totals[t] for t in times]))
                read += len(times)
            self._polled[r.key] = now
        return read

    def observe(self, samples: Samples) -> None:
        self.history.add(samples)

    def publish(self, now: float) -> int:
        """Forecast every requested series; returns how many have a value."""
        leads = [self.lead_of(r) for r in self.requests]
        values = self.history.forecast(now, leads)  # rows are in request order
        published = []
        self.gauge.clear()
        self.lead_gauge.clear()
        for r, lead, value in zip(self.requests, leads, values.tolist(), strict=True):
            self.lead_gauge.labels(r.namespace, r.name, r.kind, r.signal).set(lead)
            if np.isfinite(value):
                published.append(MetricValue(r.namespace, r.labels, value, now))
                self.gauge.labels(r.namespace, r.name, r.kind, r.signal).set(value)
        self.board.publish(METRIC, published)
        return len(published)
