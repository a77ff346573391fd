"""The metrics API source (recorded PodMetricsList), the run command against the HTTP fake
apiserver, /metrics and /healthz, Lease election and unreachable sources."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import CollectorRegistry

from recommender.cli import main
from recommender.cluster.api import KubeApi
from recommender.cluster.leader import LeaseElector
from recommender.cluster.loop import Recommender
from recommender.cluster.server import serve
from recommender.cluster.settings import RecommenderSettings
from recommender.history import CPU, MEMORY
from recommender.input.metrics_api import pod_metrics_samples
from recommender.input.prometheus import PrometheusSettings, PrometheusSource
from tests.cluster.fakeapi import FakeApiServer, client_for
from tests.cluster.objects import deployment_objects, pod_metrics, vpa_object

# As metrics-server serves it (kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods).
RECORDED = json.loads("""{
 "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
 "items": [
  {"metadata": {"name": "web-5f7d8c9b4-00000", "namespace": "shop",
                "creationTimestamp": "2026-11-28T12:00:05Z", "labels": {"app": "web"}},
   "timestamp": "2026-11-28T11:59:41Z", "window": "15.012s",
   "containers": [
     {"name": "app", "usage": {"cpu": "153254612n", "memory": "312412Ki"}},
     {"name": "proxy", "usage": {"cpu": "NaN", "memory": "-5Mi"}}]},
  {"metadata": {"name": "stray", "namespace": "shop"},
   "timestamp": "2026-11-28T11:59:41Z", "window": "15s",
   "containers": [{"name": "x", "usage": {"cpu": "1m", "memory": "1Mi"}}]}
 ]}""")


def test_pod_metrics_parsing_drops_and_counts_malformed_values():
    known = {("shop", "web-5f7d8c9b4-00000"): "Deployment/web"}
    samples, dropped = pod_metrics_samples(RECORDED["items"], lambda n, p: known.get((n, p)))
    assert dropped == 2  # NaN cpu, negative memory; the stray pod is skipped, not counted
    rows = {(r[4], r[5]): r[6] for r in samples.rows()}
    assert rows == {("app", CPU): pytest.approx(0.153254612), ("app", MEMORY): 312412 * 1024}
    assert set(samples.workload) == {"Deployment/web"}
    assert samples.timestamp[0] == 1795867181.0


@pytest.fixture
def cluster() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        deployment, rs, pods = deployment_objects("shop", "web", 2)
        fake.store.add("/apis/apps/v1", "deployments", [deployment])
        fake.store.add("/apis/apps/v1", "replicasets", [rs])
        fake.store.add("/api/v1", "pods", pods)
        fake.store.add("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers",
                       [vpa_object("shop", "web", "web")])
        fake.store.add("/apis/metrics.k8s.io/v1beta1", "pods", [
            pod_metrics("shop", p["metadata"]["name"], {"app": ("250m", "300Mi")})
            for p in pods])
        yield fake


def test_metrics_api_feeds_the_loop(cluster):
    rec = Recommender(RecommenderSettings(), KubeApi(client_for(cluster.url), qps=0))
    report = rec.run_once()
    assert report.errors == {} and report.samples == 4
    status = cluster.store.objects[("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers")][
        ("shop", "web")]["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"RecommendationProvided": "True", "LowConfidence": "True"}


def test_run_once_command_with_a_kubeconfig(cluster, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": cluster.url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
    }))
    code = main(["run", "--kubeconfig", str(kubeconfig), "--once", "--no-leader-election"])
    assert code == 0
    vpa = cluster.store.objects[("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers")][
        ("shop", "web")]
    assert vpa["status"]["recommendation"]["containerRecommendations"][0]["containerName"] == "app"


def test_metrics_and_healthz_endpoints():
    from recommender.cluster.telemetry import Telemetry

    telemetry = Telemetry(CollectorRegistry())
    telemetry.status_writes.inc(3)
    healthy = {"ok": True}
    server = serve(telemetry.registry, lambda: healthy["ok"], 0, "127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert "tidal_recommender_status_writes_total 3.0" in body
        assert "tidal_recommender_loop_duration_seconds_bucket" in body
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
        healthy["ok"] = False
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert err.value.code == 503
    finally:
        server.shutdown()


def test_two_electors_one_leader(cluster):
    api = KubeApi(client_for(cluster.url), qps=0)
    clock = {"a": 0.0, "b": 0.0}
    a = LeaseElector(api, "tidal-system", "lease", "a", 15, monotonic=lambda: clock["a"])
    b = LeaseElector(api, "tidal-system", "lease", "b", 15, monotonic=lambda: clock["b"])
    assert [a.try_acquire_or_renew(), b.try_acquire_or_renew()] == [True, False]
    clock["b"] += 16  # a went silent
    assert b.try_acquire_or_renew() and not a.try_acquire_or_renew()
    lease = cluster.store.objects[("/apis/coordination.k8s.io/v1", "leases")][
        ("tidal-system", "lease")]
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1


def test_unreachable_prometheus_and_metrics_api_never_crash_the_loop(cluster):
    del cluster.store.objects[("/apis/metrics.k8s.io/v1beta1", "pods")]
    prometheus = PrometheusSource(
        PrometheusSettings("http://127.0.0.1:9", retries=1, retry_delay_s=0.01)
    )
    rec = Recommender(RecommenderSettings(), KubeApi(client_for(cluster.url), qps=0), prometheus)
    report = rec.run_once()
    assert report.errors == {"prometheus": 1, "metrics_api": 1}
    assert rec.feed.metrics_backoff.failures == 1 and not rec.feed.metrics_backoff.ready()
    assert rec.run_once().errors == {}  # both backing off: skipped quietly this loop
    assert rec.feed.history_pending  # the bootstrap is retried once Prometheus answers


def test_run_loops_while_leading_and_releases_the_lease_on_stop(cluster):
    import threading

    api = KubeApi(client_for(cluster.url), qps=0)
    settings = RecommenderSettings(interval_s=0.2, retry_period_s=0.05)
    rec = Recommender(settings, api)
    elector = LeaseElector(api, "tidal-system", settings.lease, "me", 15)
    stop = threading.Event()
    thread = threading.Thread(target=rec.run, args=(stop, elector))
    thread.start()
    sample = rec.telemetry.registry.get_sample_value
    try:
        for _ in range(100):
            if (sample("tidal_recommender_checkpoints_written_total") or 0) >= 1:
                break
            stop.wait(0.05)
        assert rec.leading and sample("tidal_recommender_leader") == 1
    finally:
        stop.set()
        thread.join(timeout=10)
    lease = cluster.store.objects[("/apis/coordination.k8s.io/v1", "leases")][
        ("tidal-system", "tidal-recommender-tidal")]
    assert lease["spec"]["holderIdentity"] == "" and not rec.leading
    checkpoints = cluster.store.objects[
        ("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalercheckpoints")]
    assert ("shop", "web-app") in checkpoints  # written between loops


def test_gpu_model_from_node_labels(cluster):
    cluster.store.add("/api/v1", "nodes", [
        {"metadata": {"name": f"gpu-{i}", "labels": {"nvidia.com/gpu.product": product}}}
        for i, product in enumerate(["NVIDIA-H100-80GB-HBM3"] * 2 + ["Tesla-T4"])
    ])
    rec = Recommender(RecommenderSettings(), KubeApi(client_for(cluster.url), qps=0))
    rec.run_once()
    assert rec.gpu is not None and rec.gpu.name == "H100-80GB"
    # Each workload's model from the nodes its pods run on (no Prometheus).
    for name, node in (("web", "gpu-0"), ("cam", "gpu-2")):
        deployment, rs, pods = deployment_objects("shop", name, 1)
        for pod in pods:
            pod["spec"]["nodeName"] = node
        cluster.store.add("/apis/apps/v1", "deployments", [deployment])
        cluster.store.add("/apis/apps/v1", "replicasets", [rs])
        cluster.store.add("/api/v1", "pods", pods)
    rec = Recommender(RecommenderSettings(), KubeApi(client_for(cluster.url), qps=0))
    rec.run_once()
    assert {k: m.name for k, m in rec.gpu_of.items()} == {
        ("shop", "Deployment/web"): "H100-80GB", ("shop", "Deployment/cam"): "T4"}
