"""History straight from Prometheus for ``recommend``/``report`` on a workstation (like KRR).

Pods are grouped into workloads by their owners from the Kubernetes API when a kubeconfig
works, else from kube-state-metrics (``kube_pod_owner``, ``kube_replicaset_owner``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from recommender.duration import parse_duration
from recommender.history import Samples
from recommender.input.backoff import SourceUnavailable
from recommender.input.dcgm import gpu_models
from recommender.input.prometheus import PrometheusAuth, PrometheusSettings, PrometheusSource
from recommender.logic.gpu import GpuModels, model_from_product

log = logging.getLogger(__name__)


def api_workloads(namespace: str | None) -> Callable[[str, str], str | None] | None:
    """Pod -> workload from the API, or None when no kubeconfig works."""
    kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not Path(kubeconfig.split(os.pathsep)[0]).is_file():
        return None
    try:
        from recommender.cluster import paths
        from recommender.cluster.api import KubeApi, api_client
        from recommender.cluster.targets import INTERMEDIATE, WELL_KNOWN, TargetIndex, discover
        from recommender.owners import POD

        api = KubeApi(api_client(kubeconfig), qps=0, timeout_s=10.0)
        index = TargetIndex(discover(api.get, lambda group, exc: None))
        for kind in INTERMEDIATE:
            prefix, plural = WELL_KNOWN[kind]
            for obj in api.list(paths.collection(prefix, plural, namespace)):
                index.add(kind, obj)
        pods = list(api.list(paths.pods(namespace)))
        for pod in pods:  # a LeaderWorkerSet's leader pod owns its workers' StatefulSet
            meta = pod.get("metadata") or {}
            if (meta.get("namespace", ""), meta.get("name", "")) in index.owner_pods:
                index.add(POD, pod)
        table = {}
        for pod in pods:
            meta = pod.get("metadata") or {}
            ns = meta.get("namespace", "")
            table[(ns, meta.get("name", ""))] = index.workload(ns, meta)
    except Exception as exc:  # any API trouble: fall back to kube-state-metrics owners
        log.info("pod owners from the API unavailable (%s); using kube_pod_owner", exc)
        return None
    return lambda ns, pod: table.get((ns, pod))


def prometheus_samples(url: str, namespace: str | None, history_length: str,
                       auth: PrometheusAuth | None = None, selector: str = "") -> Samples:
    """``history_length`` of samples up to now; ValueError when Prometheus is unreachable."""
    settings = PrometheusSettings(
        url=url, history_length_s=parse_duration(history_length), namespace=namespace,
        auth=auth or PrometheusAuth(), selector=selector,
    )
    end = time.time()
    try:
        return PrometheusSource(settings).history(
            end - settings.history_length_s, end, api_workloads(namespace)
        )
    except SourceUnavailable as exc:
        raise ValueError(str(exc)) from None


def prometheus_workload_gpu_models(url: str, history_length: str, namespace: str | None,
                                   auth: PrometheusAuth | None = None, selector: str = ""
                                   ) -> GpuModels:
    """Each workload's GPU model over the history (:meth:`PrometheusSource.gpu_models`), pods
    grouped by the API where a kubeconfig works, else by kube-state-metrics."""
    source = PrometheusSource(PrometheusSettings(url=url, auth=auth or PrometheusAuth(),
                                                 selector=selector, namespace=namespace))
    end = time.time()
    try:
        return source.gpu_models(end - parse_duration(history_length), end,
                                 api_workloads(namespace))
    except SourceUnavailable as exc:
        raise ValueError(str(exc)) from None


def prometheus_gpu_model(url: str, history_length: str, auth: PrometheusAuth | None = None,
                         selector: str = "") -> tuple[str | None, list[str]]:
    """Tidal's name of the most common GPU model dcgm-exporter reported over the history, and
    every ``modelName`` seen (most common first); (None, []) without DCGM data."""
    client = PrometheusSource(PrometheusSettings(url=url, auth=auth or PrometheusAuth(),
                                                 selector=selector)).client
    try:
        names = gpu_models(client, time.time(), parse_duration(history_length))
    except SourceUnavailable as exc:
        raise ValueError(str(exc)) from None
    for name in names:
        if (model := model_from_product(name)) is not None:
            return model, names
    return None, names
