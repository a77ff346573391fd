"""Prometheus as a history source: cAdvisor CPU and memory, kube-state-metrics OOM kills and
pod owners, and (via :mod:`recommender.input.dcgm`) NVIDIA dcgm-exporter GPU usage.

History is read with ``query_range`` at a fixed resolution (default 1 h), in bounded time
chunks (default 1 day per query), so bootstrapping 8 days of a big cluster never asks
Prometheus for one huge matrix. Each step's value summarises the step before it: CPU as the
average rate, memory as the peak working set.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, OOM, Samples
from recommender.input.backoff import SourceUnavailable
from recommender.input.dcgm import gpu_memory_query, gpu_models_by_pod, gpu_query
from recommender.logic.gpu import GpuModel, GpuModels, product_gpu_model

log = logging.getLogger(__name__)

Series = dict[str, Any]  # {"metric": {labels}, "values": [[t, "v"], ...]} or "value"
WorkloadOf = Callable[[str, str], str | None]
CONTAINER_FILTER = 'container!="",container!="POD"'


@dataclass(frozen=True)
class PrometheusAuth:
    """How to reach a Prometheus that wants credentials (Thanos, Mimir, a managed service).

    Secrets are read from files at every request, so a rotated token or password is picked up
    without a restart."""

    bearer_token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None  # verify the server with this CA instead of the system's
    cert_file: str | None = None  # a client certificate (and its key_file)
    key_file: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("X-Scope-OrgID", "tenant-a"),)

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.bearer_token_file:
            headers["Authorization"] = f"Bearer {_secret(self.bearer_token_file)}"
        elif self.username is not None:
            password = _secret(self.password_file) if self.password_file else ""
            token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def ssl_context(self) -> ssl.SSLContext | None:
        if not (self.ca_file or self.cert_file):
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise SourceUnavailable(f"prometheus TLS files: {exc}") from None
        return context


def _secret(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SourceUnavailable(f"prometheus credentials: cannot read {path}: "
                                f"{exc.strerror}") from None


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    history_length_s: float = 8 * 86400.0
    resolution_s: float = 3600.0
    chunk_s: float = 86400.0
    namespace: str | None = None
    timeout_s: float = 60.0
    retries: int = 3
    retry_delay_s: float = 0.5
    auth: PrometheusAuth = field(default_factory=PrometheusAuth)
    selector: str = ""  # label matchers of one cluster (cluster="prod-eu"), on every query


@dataclass
class FetchStats:
    """What a history fetch did: queries sent, samples kept, malformed values dropped."""

    queries: int = 0
    chunks: int = 0
    samples: int = 0
    dropped: int = 0
    by_resource: dict[str, int] = field(default_factory=dict)


# Every metric Tidal's own queries read: ``scoped`` adds the cluster selector to each.
SCOPED_METRICS = (
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
    "kube_pod_container_status_last_terminated_reason", "kube_pod_container_resource_limits",
    "kube_pod_container_resource_requests", "kube_pod_owner", "kube_replicaset_owner",
    "kube_job_owner", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
)
_SCOPED = re.compile(r"\b(" + "|".join(SCOPED_METRICS) + r")\b(\{)?")
_MATCHERS = re.compile(r'^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
                       r'(,\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*)*$')


def check_matchers(text: str) -> str:
    """``text`` if it is PromQL label matchers (``cluster="prod-eu"``); ValueError otherwise."""
    if text and not _MATCHERS.match(text):
        raise ValueError(f"--prometheus-selector {text!r}: expected label matchers such as "
                         'cluster="prod-eu" or cluster=~"prod-.*",region="eu"')
    return text.strip()


def scoped(query: str, matchers: str) -> str:
    """``query`` with ``matchers`` added to the selector of every metric Tidal reads (one
    cluster of a multi-cluster Thanos, Mimir or VictoriaMetrics)."""
    if not matchers:
        return query
    return _SCOPED.sub(lambda m: f"{m[1]}{{{matchers}," if m[2] else f"{m[1]}{{{matchers}}}",
                       query)


class PrometheusClient:
    """The HTTP API (``/api/v1/query`` and ``/api/v1/query_range``), retried with backoff."""

    def __init__(
        self, url: str, timeout_s: float = 60.0, retries: int = 3, retry_delay_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep, auth: PrometheusAuth | None = None,
        matchers: str = "",
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s, self.retries, self.retry_delay_s = timeout_s, retries, retry_delay_s
        self.sleep = sleep
        self.auth = auth or PrometheusAuth()
        self.matchers = matchers
        self._context: ssl.SSLContext | None = None
        self.requests = 0

    def _get(self, endpoint: str, params: Mapping[str, Any]) -> list[Series]:
        params = {**params, "query": scoped(str(params["query"]), self.matchers)}
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        if self._context is None:
            self._context = self.auth.ssl_context()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.retry_delay_s * 2 ** (attempt - 1))
            self.requests += 1
            request = urllib.request.Request(url, headers=self.auth.request_headers())
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s,
                                            context=self._context) as response:
                    body = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code in (400, 422):  # a bad query: retrying will not help
                    detail = exc.read()[:300]
                    raise SourceUnavailable(f"prometheus rejected the query: {detail!r}") from None
                if exc.code in (401, 403):  # credentials: retrying will not help either
                    raise SourceUnavailable(
                        f"prometheus at {self.url} refused the credentials ({exc.code} "
                        f"{exc.reason}): check --prometheus-username/--prometheus-password-file,"
                        " --prometheus-bearer-token-file or --prometheus-header") from None
                last = exc
                continue
            except (OSError, ValueError) as exc:
                last = exc
                continue
            if body.get("status") != "success":
                raise SourceUnavailable(f"prometheus: {body.get('error', body)}")
            return list((body.get("data") or {}).get("result") or [])
        raise SourceUnavailable(f"prometheus at {self.url} unreachable: {last}")

    def query_range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        return self._get(
            "query_range", {"query": query, "start": start, "end": end, "step": f"{step:g}s"}
        )

    def query(self, query: str, at: float) -> list[Series]:
        return self._get("query", {"query": query, "time": at})


def selector(extra: str, namespace: str | None) -> str:
    parts = [extra] if extra else []
    if namespace:
        parts.append(f'namespace="{namespace}"')
    return "{" + ",".join(parts) + "}"


def _window(step: float) -> str:
    return f"{max(int(step), 60)}s"


def cpu_query(step: float, namespace: str | None = None) -> str:
    sel = selector(CONTAINER_FILTER, namespace)
    return (
        "sum by (namespace, pod, container) "
        f"(rate(container_cpu_usage_seconds_total{sel}[{_window(step)}]))"
    )


def memory_query(step: float, namespace: str | None = None) -> str:
    sel = selector(CONTAINER_FILTER, namespace)
    return (
        "max by (namespace, pod, container) "
        f"(max_over_time(container_memory_working_set_bytes{sel}[{_window(step)}]))"
    )


def oom_query(step: float, namespace: str | None = None) -> str:
    """Memory limit (else request) of containers whose last termination was an OOM kill."""
    ns = selector("", namespace)[1:-1]
    ns = f",{ns}" if ns else ""
    by = "max by (namespace, pod, container)"
    memory = (
        f'{by} (kube_pod_container_resource_limits{{resource="memory"{ns}}}) or '
        f'{by} (kube_pod_container_resource_requests{{resource="memory"{ns}}})'
    )
    killed = (
        f"{by} (max_over_time(kube_pod_container_status_last_terminated_reason"
        f'{{reason="OOMKilled"{ns}}}[{_window(step)}]) == 1)'
    )
    return f"({memory}) and on (namespace, pod, container) ({killed})"


def series_arrays(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps and values of a matrix (or vector) series; values may be NaN."""
    points = series.get("values")
    if points is None:
        points = [series["value"]] if "value" in series else []
    if not points:
        return np.zeros(0), np.zeros(0)
    times = np.fromiter((float(p[0]) for p in points), dtype=np.float64, count=len(points))
    values = np.fromiter(
        (_float(p[1]) for p in points), dtype=np.float64, count=len(points)
    )
    return times, values


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def first_of_runs(times: np.ndarray, step: float) -> np.ndarray:
    """The first timestamp of each run of consecutive steps (one OOM kill per run)."""
    if len(times) == 0:
        return times
    gaps = np.diff(times) > step * 1.5
    return times[np.concatenate(([True], gaps))]


class OwnerMap:
    """Pods to workloads from kube-state-metrics (``kube_pod_owner``, ``kube_replicaset_owner``,
    ``kube_job_owner``) for pods the API no longer knows."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], tuple[str, str]] = {}
        self.parents: dict[tuple[str, str, str], tuple[str, str]] = {}

    def workload(self, namespace: str, pod: str) -> str:
        owner = self.pods.get((namespace, pod))
        if owner is None or not owner[0] or owner[0] == "<none>":
            return f"Pod/{pod}"
        parent = self.parents.get((namespace, *owner))
        if parent is not None:
            owner = parent
        return f"{owner[0]}/{owner[1]}"

    def add_series(self, metric: str, series: list[Series]) -> None:
        for item in series:
            labels = item.get("metric") or {}
            ns = labels.get("namespace", "")
            owner = (labels.get("owner_kind", ""), labels.get("owner_name", ""))
            if metric == "kube_pod_owner":
                self.pods[(ns, labels.get("pod", ""))] = owner
            elif metric == "kube_replicaset_owner" and owner[0] and owner[0] != "<none>":
                self.parents[(ns, "ReplicaSet", labels.get("replicaset", ""))] = owner
            elif metric == "kube_job_owner" and owner[0] and owner[0] != "<none>":
                self.parents[(ns, "Job", labels.get("job_name", ""))] = owner


OWNER_METRICS = ("kube_pod_owner", "kube_replicaset_owner", "kube_job_owner")


class PrometheusSource:
    """History (bootstrap) and recent samples (live) from one Prometheus."""

    def __init__(self, settings: PrometheusSettings, client: PrometheusClient | None = None):
        self.settings = settings
        self.client = client or PrometheusClient(
            settings.url, settings.timeout_s, settings.retries, settings.retry_delay_s,
            auth=settings.auth, matchers=settings.selector,
        )

    def chunks(self, start: float, end: float, step: float | None = None
               ) -> Iterator[tuple[float, float]]:
        """``(first, last)`` evaluation times of each query, ``step`` (default the
        resolution) apart, at most ``chunk_s`` per query, aligned to the step."""
        step = step or self.settings.resolution_s
        first = math.ceil(start / step) * step
        per_chunk = max(int(self.settings.chunk_s // step), 1)
        t = first
        while t <= end:
            last = min(t + (per_chunk - 1) * step, math.floor(end / step) * step)
            yield t, last
            t = last + step

    def owners(self, start: float, end: float) -> OwnerMap:
        """Owners of every pod seen between ``start`` and ``end`` (one query per metric)."""
        owners = OwnerMap()
        window = f"{max(int(end - start), 60)}s"
        sel = selector("", self.settings.namespace)
        for metric in OWNER_METRICS:
            query = f"max_over_time({metric}{sel}[{window}])"
            try:
                owners.add_series(metric, self.client.query(query, end))
            except SourceUnavailable as exc:
                log.warning("owners from %s: %s", metric, exc)
        return owners

    def gpu_models(self, start: float, end: float, workload_of: WorkloadOf | None = None
                   ) -> GpuModels:
        """The GPU model of each workload (namespace, ``Kind/name``) whose pods dcgm-exporter
        saw between ``start`` and ``end`` (models Tidal does not know are left out); pods are
        grouped as :meth:`history` groups them."""
        owners = self.owners(start, end)
        found: dict[tuple[str, str], GpuModel] = {}
        for (namespace, pod), name in gpu_models_by_pod(self.client, end, end - start).items():
            if self.settings.namespace and namespace != self.settings.namespace:
                continue
            model = product_gpu_model(name)
            if model is not None:
                workload = (workload_of(namespace, pod) if workload_of else None) or \
                    owners.workload(namespace, pod)
                found.setdefault((namespace, workload), model)
        return found

    def history(
        self,
        start: float,
        end: float,
        workload_of: WorkloadOf | None = None,
        stats: FetchStats | None = None,
        resources: Sequence[str] | None = None,
        step: float | None = None,
        namespace: str | None = None,
    ) -> Samples:
        """Samples of every resource (or of ``resources``) between ``start`` and ``end``, chunk
        by chunk, at the resolution (or ``step``), in the configured namespace (or
        ``namespace``).

        Pods are grouped into workloads by ``workload_of`` (e.g. the API) and else by
        kube-state-metrics owners. Raises :class:`SourceUnavailable` when Prometheus is down.
        """
        stats = stats if stats is not None else FetchStats()
        owners = self.owners(start, end)

        def resolve(namespace: str, pod: str) -> str:
            found = workload_of(namespace, pod) if workload_of else None
            return found or owners.workload(namespace, pod)

        step = step or self.settings.resolution_s
        ns = namespace or self.settings.namespace
        queries = [(r, q) for r, q in (
            (CPU, cpu_query(step, ns)),
            (MEMORY, memory_query(step, ns)),
            (GPU, gpu_query(step)),
            (GPU_MEMORY, gpu_memory_query(step)),
            (OOM, oom_query(step, ns)),
        ) if resources is None or r in resources]
        parts = []
        for first, last in self.chunks(start, end, step):
            stats.chunks += 1
            for resource, query in queries:
                stats.queries += 1
                series = self.client.query_range(query, first, last, step)
                parts.append(self.to_samples(series, resource, resolve, stats, ns))
        return Samples.concat(parts)

    def to_samples(
        self, series: list[Series], resource: str, resolve: Callable[[str, str], str],
        stats: FetchStats, namespace: str | None = None,
    ) -> Samples:
        """Series of one resource as samples; NaN, infinite and negative values are dropped
        and counted, as are series without a pod."""
        columns: list[list[Any]] = [[] for _ in range(7)]
        for item in series:
            labels = item.get("metric") or {}
            ns, pod, container = (
                labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", "")
            )
            times, values = series_arrays(item)
            only = namespace or self.settings.namespace
            if only and ns != only:
                continue
            if not (ns and pod and container):
                stats.dropped += len(values)
                continue
            if resource == OOM:
                keep = first_of_runs(times, self.settings.resolution_s)  # OOMs: default step
                mask = np.isin(times, keep)
                times, values = times[mask], values[mask]
            good = np.isfinite(values) & (values >= 0)
            stats.dropped += int((~good).sum())
            times, values = times[good], values[good]
            n = len(times)
            if not n:
                continue
            workload = resolve(ns, pod)
            columns[0].append(times)
            for i, text in enumerate((ns, workload, pod, container, resource), start=1):
                columns[i].append(np.full(n, text, dtype=object))
            columns[6].append(values)
            stats.samples += n
            stats.by_resource[resource] = stats.by_resource.get(resource, 0) + n
        if not columns[0]:
            return Samples.empty()
        return Samples.from_columns(*(np.concatenate(c) for c in columns))
