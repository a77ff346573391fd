"""The in-cluster loop bootstrapping from a real Prometheus (API mocked over HTTP)."""

from __future__ import annotations

import pytest

from recommender.cluster.api import KubeApi
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from recommender.input.prometheus import PrometheusSettings, PrometheusSource
from recommender.quantity import parse_quantity
from tests.cluster.fakeapi import FakeApiServer, client_for
from tests.cluster.objects import deployment_objects, vpa_object
from tests.prometheus.backfill import HOUR, WEB_CPU

pytestmark = pytest.mark.slow
VPAS = ("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers")


def test_bootstrap_from_prometheus_gives_a_recommendation_at_once(prometheus_server):
    with FakeApiServer() as fake:
        deployment, rs, _ = deployment_objects("shop", "web", 0)  # old pods are gone
        fake.store.add("/apis/apps/v1", "deployments", [deployment])
        fake.store.add("/apis/apps/v1", "replicasets", [rs])
        fake.store.add(*VPAS, [vpa_object("shop", "web", "web")])
        source = PrometheusSource(PrometheusSettings(prometheus_server.url))
        rec = Recommender(RecommenderSettings(), KubeApi(client_for(fake.url), qps=0), source,
                          clock=lambda: prometheus_server.end)
        report = rec.run_once()
        assert report.errors == {"metrics_api": 1}
        assert report.samples > 700  # 2 pods x (cpu + memory) x 193 hours, + the OOM kill
        status = fake.store.objects[VPAS][("shop", "web")]["status"]
        (entry,) = status["recommendation"]["containerRecommendations"]
        cpu = parse_quantity(entry["target"]["cpu"])
        assert max(WEB_CPU.values()) <= cpu <= max(WEB_CPU.values()) * 1.25
        # Memory peaks per day: the larger pod's 300Mi, plus the 15% margin.
        assert 300 * 2**20 * 1.15 <= parse_quantity(entry["target"]["memory"]) < 400 * 2**20
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions == {"RecommendationProvided": "True", "NoPodsMatched": "True"}
        (web,) = [k for k in rec.model.keys if k.namespace == "shop"]
        row = rec.model.find(web)
        assert rec.model.oom_count[row] == 1
        assert rec.gpu is not None and rec.gpu.name == "A100-80GB"  # dcgm modelName
        # Two models in the cluster: each workload is sized for its own.
        assert {k: m.name for k, m in rec.gpu_of.items()} == {
            ("ml", "StatefulSet/trainer"): "A100-80GB", ("ml", "StatefulSet/legacy"): "A100-40GB"}


def test_prometheus_is_the_live_source_while_the_metrics_api_is_missing(prometheus_server):
    now = {"t": prometheus_server.end - 2 * HOUR}
    with FakeApiServer() as fake:
        deployment, rs, _ = deployment_objects("shop", "web", 0)
        fake.store.add("/apis/apps/v1", "deployments", [deployment])
        fake.store.add("/apis/apps/v1", "replicasets", [rs])
        fake.store.add(*VPAS, [vpa_object("shop", "web", "web")])
        source = PrometheusSource(PrometheusSettings(prometheus_server.url, namespace="shop"))
        settings = RecommenderSettings(interval_s=60.0)
        rec = Recommender(settings, KubeApi(client_for(fake.url), qps=0), source,
                          clock=lambda: now["t"])
        rec.run_once()
        before = int(rec.model.sample_count.sum())
        now["t"] += 30 * 60  # under the 1 h resolution: nothing new to ask for
        assert rec.run_once().samples == 0
        now["t"] += 90 * 60
        rec.feed.metrics_backoff.next_attempt = float("inf")  # the metrics API stays down
        report = rec.run_once()
        assert report.samples > 0 and report.errors == {}
        # 2 pods x 2 new hours, each hourly sample counting as 60 one-minute samples
        assert int(rec.model.sample_count.sum()) == before + 2 * 2 * 60
