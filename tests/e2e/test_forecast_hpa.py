"""tidal_forecast through the real API aggregator to the real HPA controller.

The recommender's external metrics API is registered by an ``APIService`` behind a ClusterIP
Service (the harness's Service range is on loopback; the server listens on the Service's
ClusterIP as kube-proxy would route it; the EndpointSlice the aggregator's availability check
wants names a documentation address nothing dials). Two days of a daily rise are replayed into
the recommender as the metrics API would have delivered them; now is ten minutes before the
third day's rise and demand is still low. kube-controller-manager's HPA controller must scale
the Deployment for the rise before it comes.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from certs import cli as certs_cli
from certs import pki as certs_pki
from recommender.cluster.api import KubeApi, api_client
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from recommender.commands.run import start_metrics_api
from recommender.history import Samples
from tests.e2e.cluster import KubeCluster, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

APISERVICE = "v1beta1.external.metrics.k8s.io"
SERVICE = "tidal-metrics"
DAY = 86400.0
QUIET, BUSY = 0.5, 4.0  # cores: 1 replica at 800m each, then 5


def _apply(cluster: KubeCluster, *objects: dict[str, Any], namespace: str | None = None):
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
    proc = cluster.kubectl(*args, input=json.dumps(doc))
    assert proc.returncode == 0, proc.stderr


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def metrics_service(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
                    ) -> Iterator[tuple[str, int, certs_pki.Bundle]]:
    """The Service, EndpointSlice and APIService; yields (ClusterIP, port, certificates)."""
    existing = kube_cluster.kubectl("get", "apiservice", APISERVICE)
    if existing.returncode == 0:
        pytest.fail(f"APIService {APISERVICE} already exists in this cluster: another "
                    "external metrics provider would be replaced")
    _apply(kube_cluster, {"apiVersion": "v1", "kind": "Service",
                          "metadata": {"name": SERVICE},
                          "spec": {"ports": [{"name": "https", "port": 443}]}},
           namespace=kube_namespace)
    cluster_ip = kube_cluster.get_json("service", SERVICE, "-n", kube_namespace)[
        "spec"]["clusterIP"]
    port = _free_port(cluster_ip)
    kube_cluster.kubectl("delete", "service", SERVICE, "-n", kube_namespace, check=True)
    _apply(kube_cluster, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
        "spec": {"clusterIP": cluster_ip, "ports": [{"name": "https", "port": port}]},
    }, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{SERVICE}-1", "labels": {
            "kubernetes.io/service-name": SERVICE,
            "endpointslice.kubernetes.io/managed-by": "tidal-e2e"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }, namespace=kube_namespace)
    _apply(kube_cluster, {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {"group": "external.metrics.k8s.io", "version": "v1beta1",
                 "groupPriorityMinimum": 100, "versionPriority": 100,
                 "service": {"namespace": kube_namespace, "name": SERVICE, "port": port}},
    })
    # tidal-certs issues the serving certificate and sets the APIService's caBundle, as the
    # install Job does.
    assert certs_cli.main([
        "install", "--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", kube_namespace,
        "--service", SERVICE, "--secret", f"{SERVICE}-tls", "--ca-secret", f"{SERVICE}-ca",
        "--webhook-config", "", "--apiservice", APISERVICE]) == 0
    secret = kube_cluster.get_json("secret", f"{SERVICE}-tls", "-n", kube_namespace)["data"]
    bundle = certs_pki.Bundle.at(tmp_path / "certs")
    bundle.cert.parent.mkdir(parents=True)
    for path, key in ((bundle.cert, "tls.crt"), (bundle.key, "tls.key"),
                      (bundle.ca_cert, "ca.crt")):
        path.write_bytes(b64decode(secret[key]))
    ca_bundle = kube_cluster.get_json("apiservice", APISERVICE)["spec"]["caBundle"]
    assert b64decode(ca_bundle) == bundle.ca_cert.read_bytes()
    try:
        yield cluster_ip, port, bundle
    finally:
        kube_cluster.kubectl("delete", "apiservice", APISERVICE, "--wait=false")


def _replayed_demand(namespace: str, rise_at: float, now: float) -> Samples:
    """Two pods' CPU per minute over the two days before ``now``: QUIET, then BUSY for two
    hours from ``rise_at``'s time of day on each earlier day."""
    rows = []
    for t in np.arange(now - 2 * DAY, now, 60.0):
        into = (t - rise_at) % DAY
        total = BUSY if into < 7200 else QUIET
        for pod in ("web-1", "web-2"):
            rows.append((t, namespace, "Deployment/web", pod, "app", "cpu", total / 2))
    return Samples.from_rows(rows)


def _direct(host: str, port: int, bundle: certs_pki.Bundle, path: str,
            cert: tuple[Path, Path] | None = None) -> int:
    context = ssl.create_default_context(cafile=str(bundle.ca_cert))
    context.check_hostname = False
    if cert:
        context.load_cert_chain(*map(str, cert))
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=5)
    conn.request("GET", path, headers={"X-Remote-User": "system:admin",
                                       "X-Remote-Group": "system:masters"})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.fixture(scope="module")
def crds(kube_cluster: KubeCluster) -> None:
    proc = kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k",
                                str(REPO / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr


def test_hpa_scales_on_the_forecast_before_the_rise(kube_cluster, kube_namespace, crds,
                                                    metrics_service):
    cluster_ip, port, bundle = metrics_service
    ns = kube_namespace
    labels = {"app": "web"}
    _apply(kube_cluster, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "app", "image": "registry.invalid/app:1",
                      "resources": {"requests": {"cpu": "1"}}}]}}},
    }, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {"tidal.dev/forecast-lead": "15m"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "tidal_forecast", "selector": {"matchLabels": {
                    "workload": "web", "signal": "cpu"}}},
                "target": {"type": "AverageValue", "averageValue": "800m"}}}],
        },
    }, namespace=ns)
    client = api_client(str(kube_cluster.kubeconfig))
    api = KubeApi(client, qps=0)
    settings = RecommenderSettings(
        namespace=ns, checkpoint_interval_s=0, gc_interval_s=0, metrics_api_port=port,
        metrics_api_bind=cluster_ip, metrics_api_cert=str(bundle.cert),
        metrics_api_key=str(bundle.key), forecast_step_s=300)
    recommender = Recommender(settings, api)
    server = start_metrics_api(recommender)
    try:
        now = time.time()
        rise_at = now + 600  # ten minutes from now, as on the two days before
        recommender.forecasts.refresh(api, ns)
        assert [r.key for r in recommender.forecasts.requests] == [(ns, "Deployment/web", "cpu")]
        recommender.forecasts.observe(_replayed_demand(ns, rise_at, now))
        recommender.run_once()
        (value,) = recommender.board.find("tidal_forecast", ns, ())
        assert value.value == pytest.approx(BUSY, rel=0.05)

        # The aggregator marks the APIService Available and kubectl reads the value.
        def available() -> bool:
            conditions = kube_cluster.get_json("apiservice", APISERVICE)["status"].get(
                "conditions") or []
            return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

        wait_until(available, timeout=60, what=f"APIService {APISERVICE} Available")
        proc = kube_cluster.kubectl(
            "get", "--raw", f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/"
            "tidal_forecast?labelSelector=workload%3Dweb%2Csignal%3Dcpu")
        assert proc.returncode == 0, proc.stderr
        raw = json.loads(proc.stdout)
        assert [i["value"] for i in raw["items"]] == ["4"]  # cores
        assert raw["items"][0]["metricLabels"] == {"workload": "web", "kind": "Deployment",
                                                   "signal": "cpu"}

        # The real HPA controller scales for the rise, while demand is still QUIET.
        def replicas() -> int:
            return int(kube_cluster.get_json("deployment", "web", "-n", ns)["spec"][
                "replicas"])

        wait_until(lambda: replicas() == 5, timeout=90,
                   what="the HPA to scale web to 5 replicas on tidal_forecast")
        assert time.time() < rise_at
        status = kube_cluster.get_json("hpa", "web", "-n", ns)["status"]
        assert status["desiredReplicas"] == 5
        assert status["currentMetrics"][0]["external"]["metric"]["name"] == "tidal_forecast"

        # Anyone but the front proxy is refused, whatever headers it sends.
        path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/tidal_forecast"
        assert _direct(cluster_ip, port, bundle, path) == 401
        if kube_cluster.pki is not None:  # kubectl's own client certificate: not the proxy
            admin = (kube_cluster.pki.path("admin.crt"), kube_cluster.pki.path("admin.key"))
            assert _direct(cluster_ip, port, bundle, path, admin) == 401
    finally:
        server.stop()
        client.close()
