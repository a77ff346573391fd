"""The loop against an in-memory API server over HTTP (shaped like the real one): status and
conditions, ``recommenders`` semantics, change detection, checkpoints, GC, bad input.

The same behaviours run against a real kube-apiserver in ``tests/e2e/test_recommender_*``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from recommender.cluster.api import KubeApi
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from recommender.history import CPU, MEMORY, Samples
from recommender.quantity import parse_quantity
from tests.cluster.fakeapi import FakeApiServer, Store, client_for
from tests.cluster.objects import deployment_objects, vpa_object

DAY = 86400.0
MI = 2**20
VPA_API = "/apis/autoscaling.k8s.io/v1"


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        yield fake


@pytest.fixture
def api(server: FakeApiServer) -> Iterator[KubeApi]:
    client = client_for(server.url)
    yield KubeApi(client, qps=0)
    client.close()


def _deploy(store: Store, ns: str, name: str, replicas: int, **kw) -> list[str]:
    deployment, rs, pods = deployment_objects(ns, name, replicas, **kw)
    store.add("/apis/apps/v1", "deployments", [deployment])
    store.add("/apis/apps/v1", "replicasets", [rs])
    store.add("/api/v1", "pods", pods)
    return [p["metadata"]["name"] for p in pods]


def _usage(ns: str, workload: str, pods: list[str], days: float, end: float) -> Samples:
    rng = np.random.default_rng(5)
    times = np.arange(end - days * DAY, end, 60.0)
    rows = []
    for pod in pods:
        for i, t in enumerate(times):
            rows.append((t, ns, workload, pod, "app", CPU, 0.2 + rng.gamma(2, 0.05)))
            if i % 5 == 0:
                rows.append((t, ns, workload, pod, "app", MEMORY, 300 * MI))
    return Samples.from_rows(rows).sorted_by_time()


def _status(store: Store, ns: str, name: str) -> dict:
    return store.objects[(VPA_API, "verticalpodautoscalers")][(ns, name)].get("status") or {}


def _conditions(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status.get("conditions") or []}


def _settings(**kw) -> RecommenderSettings:
    # The loop's mechanics, on upstream's numbers: tidal's hourly state is not checkpointed,
    # so a restart gives vpa's numbers until it has seen MIN_HISTORY_H hours again.
    kw.setdefault("strategy", "vpa")
    return RecommenderSettings(checkpoint_interval_s=0, gc_interval_s=0, **kw)


def test_status_conditions_recommenders_and_change_detection(server, api):
    store = server.store
    web = _deploy(store, "shop", "web", 2)
    young = _deploy(store, "shop", "young", 1)
    _deploy(store, "shop", "idle", 0)
    store.add(VPA_API, "verticalpodautoscalers", [
        vpa_object("shop", "web", "web"),
        vpa_object("shop", "young", "young"),
        vpa_object("shop", "idle", "idle"),
        vpa_object("shop", "ghost", "missing"),
        vpa_object("shop", "bad", "web", resourcePolicy={"containerPolicies": [
            {"containerName": "*", "minAllowed": {"cpu": "2"}, "maxAllowed": {"cpu": "1"}}]}),
        vpa_object("shop", "other", "web", recommender="someone-else"),
        vpa_object("shop", "plain", "web", recommender=None),
    ])
    rec = Recommender(_settings(), api)
    now = rec.clock()
    rec.model.ingest(_usage("shop", "Deployment/web", web, 2.0, now))
    rec.model.ingest(_usage("shop", "Deployment/young", young, 0.125, now))

    report = rec.run_once()
    assert report.errors == {"metrics_api": 1}  # no metrics.k8s.io: logged, not fatal
    assert report.served == 5 and report.status_writes == 5

    status = _status(store, "shop", "web")
    (entry,) = status["recommendation"]["containerRecommendations"]
    assert entry["containerName"] == "app"
    assert 0.2 < parse_quantity(entry["target"]["cpu"]) < 0.6
    assert set(_conditions(status)) == {"RecommendationProvided"}
    assert _conditions(_status(store, "shop", "young"))["LowConfidence"]["status"] == "True"
    idle = _conditions(_status(store, "shop", "idle"))
    assert idle["NoPodsMatched"]["status"] == "True"
    assert idle["RecommendationProvided"]["status"] == "False"
    ghost = _status(store, "shop", "ghost")
    assert "Deployment/missing" in _conditions(ghost)["ConfigUnsupported"]["message"]
    assert "recommendation" not in ghost
    bad = _conditions(_status(store, "shop", "bad"))["ConfigUnsupported"]["message"]
    assert "max resource for cpu is lower than min" in bad
    assert _status(store, "shop", "other") == {} and _status(store, "shop", "plain") == {}

    patches = store.requests["PATCH"]
    again = rec.run_once()
    assert again.status_writes == 0 and again.unchanged == 5
    assert store.requests["PATCH"] - patches == again.checkpoints  # no status patch

    default = Recommender(_settings(name="default"), api)
    default.model.ingest(_usage("shop", "Deployment/web", web, 1.0, now))
    assert default.run_once().served == 1
    assert _status(store, "shop", "plain")["recommendation"]


def test_checkpoints_round_trip_and_gc(server, api):
    store = server.store
    pods = _deploy(store, "shop", "web", 2)
    store.add(VPA_API, "verticalpodautoscalers", [vpa_object("shop", "web", "web")])
    first = Recommender(_settings(), api)
    first.model.ingest(_usage("shop", "Deployment/web", pods, 3.0, first.clock()))
    assert first.run_once().checkpoints == 1
    checkpoints = store.objects[(VPA_API, "verticalpodautoscalercheckpoints")]
    saved = checkpoints[("shop", "web-app")]
    assert saved["spec"] == {"vpaObjectName": "web", "containerName": "app"}
    assert saved["status"]["version"] == "v3"
    before = _status(store, "shop", "web")["recommendation"]

    second = Recommender(_settings(), api)  # a restart: fresh model
    assert second.run_once().status_writes == 0
    assert _status(store, "shop", "web")["recommendation"] == before

    store.add(VPA_API, "verticalpodautoscalercheckpoints", [{
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscalerCheckpoint",
        "metadata": {"name": "gone-app", "namespace": "shop"},
        "spec": {"vpaObjectName": "gone", "containerName": "app"}}])
    assert second.run_once().deleted_checkpoints == 1
    assert list(checkpoints) == [("shop", "web-app")]


def test_oom_kills_from_pod_status_raise_memory(server, api):
    store = server.store
    pods = _deploy(store, "shop", "web", 1, oom="app")  # killed 2026-11-27T10:00:00Z
    store.add(VPA_API, "verticalpodautoscalers", [vpa_object("shop", "web", "web")])
    # The loop's clock at the kill's day: history 8 days older is forgotten (as upstream).
    rec = Recommender(_settings(), api, clock=lambda: 1_795_780_800.0)
    rec.model.ingest(_usage("shop", "Deployment/web", pods, 2.0, 1_795_780_800.0))
    rec.run_once()
    row = rec.model.find(rec.model.keys[0])
    assert rec.model.oom_count[row] == 1
    rec.run_once()  # the same kill is not counted twice
    assert rec.model.oom_count[row] == 1


def test_unreachable_api_is_logged_not_raised(api):
    rec = Recommender(_settings(), KubeApi(client_for("http://127.0.0.1:9"), qps=0,
                                           timeout_s=1.0))
    report = rec.run_once()
    assert report.errors == {"list": 1}


def _tide(ns: str, workload: str, pods: list[str], end: float) -> Samples:
    """Four days ending at ``end``: 3 cores for 8 hours each day, ending 8 h before ``end``."""
    times = np.arange(end - 4 * DAY, end, 300.0)
    ago = (end - times) % DAY
    busy = (ago > 8 * 3600) & (ago <= 16 * 3600)
    rows = [(t, ns, workload, pod, "app", CPU, 3.0 if b else 0.5)
            for pod in pods for t, b in zip(times.tolist(), busy.tolist(), strict=True)]
    return Samples.from_rows(rows).sorted_by_time()


def test_in_place_vpas_get_held_status_and_next_hours_annotation(server, api):
    from recommender.cluster.next_hours import ANNOTATION

    store = server.store
    pods = _deploy(store, "shop", "web", 2)
    frozen = _deploy(store, "shop", "batch", 2)
    store.add(VPA_API, "verticalpodautoscalers", [
        vpa_object("shop", "web", "web", updatePolicy={"updateMode": "InPlaceOrRecreate"}),
        vpa_object("shop", "frozen", "batch", updatePolicy={"updateMode": "Initial"}),
    ])
    rec = Recommender(_settings(strategy="tidal"), api)
    rec.model.ingest(_tide("shop", "Deployment/web", pods, rec.clock()))
    rec.model.ingest(_tide("shop", "Deployment/batch", frozen, rec.clock()))
    rec.run_once()
    vpas = store.objects[(VPA_API, "verticalpodautoscalers")]

    def cpu(recommendation: dict) -> float:
        (entry,) = [e for e in recommendation["containerRecommendations"]
                    if e["containerName"] == "app"]
        return parse_quantity(entry["target"]["cpu"])

    held = cpu(_status(store, "shop", "web")["recommendation"])
    assert held >= 3.0  # the status holds for a pod created at any hour
    assert cpu(_status(store, "shop", "frozen")["recommendation"]) == held
    annotation = json.loads(vpas[("shop", "web")]["metadata"]["annotations"][ANNOTATION])
    assert cpu(annotation) < 1.0  # the quiet hours ahead, for the updater
    assert ANNOTATION not in (vpas[("shop", "frozen")]["metadata"].get("annotations") or {})

    patches = store.requests["PATCH"]
    again = rec.run_once()
    assert store.requests["PATCH"] - patches == again.checkpoints  # no status, no annotation

    vpas[("shop", "web")]["spec"]["updatePolicy"]["updateMode"] = "Recreate"
    rec.run_once()
    assert ANNOTATION not in (vpas[("shop", "web")]["metadata"].get("annotations") or {})


def test_vpas_naming_no_recommender_are_served_unless_upstream_runs(server, api):
    store = server.store
    web = _deploy(store, "shop", "web", 1)
    store.add(VPA_API, "verticalpodautoscalers", [
        vpa_object("shop", "plain", "web", recommender=None),
        vpa_object("shop", "other", "web", recommender="someone-else"),
    ])
    never = Recommender(_settings(serve_unnamed="never"), api)
    assert never.run_once().served == 0  # upstream's rule: only "default" serves it
    auto = Recommender(_settings(serve_unnamed="auto"), api)
    auto.model.ingest(_usage("shop", "Deployment/web", web, 1.0, auto.clock()))
    assert auto.run_once().served == 1
    assert _status(store, "shop", "plain")["recommendation"]
    assert _status(store, "shop", "other") == {}
    # Upstream's recommender appears (its image): the unnamed VPA is left to it.
    store.add("/api/v1", "pods", [{
        "metadata": {"namespace": "kube-system", "name": "vpa-recommender-7d9f-abcde"},
        "spec": {"containers": [{"name": "recommender",
                                 "image": "registry.k8s.io/autoscaling/vpa-recommender:1.7.0"}]},
        "status": {"phase": "Running"}}])
    assert Recommender(_settings(serve_unnamed="auto"), api).run_once().served == 0
    assert Recommender(_settings(serve_unnamed="always"), api).run_once().served == 1


def test_upstream_components_are_counted_and_warned_about_once(server, api, caplog):
    import logging

    from prometheus_client import generate_latest

    store = server.store
    _deploy(store, "shop", "web", 1)
    store.add("/api/v1", "pods", [
        {"metadata": {"namespace": "kube-system", "name": f"{app}-7d9f-abcde",
                      "labels": {"app": app}},
         "spec": {"containers": [{"name": "c", "image": f"example/{app}:1.7.0"}]},
         "status": {"phase": "Running"}}
        for app in ("vpa-admission-controller", "vpa-updater")])
    rec = Recommender(_settings(), api)
    caplog.set_level(logging.WARNING, logger="recommender.cluster.loop")
    rec.run_once()
    rec.run_once()
    warnings = [r.getMessage() for r in caplog.records if "upstream's" in r.getMessage()]
    assert len(warnings) == 2  # one per pod, not per loop
    assert any("vpa-admission-controller runs (kube-system/vpa-admission-controller-7d9f-abcde)"
               " beside Tidal's webhook" in w for w in warnings)
    metrics = generate_latest(rec.telemetry.registry).decode()
    assert 'tidal_recommender_upstream_vpa_pods{component="vpa-admission-controller"} 1.0' \
        in metrics
    assert 'tidal_recommender_upstream_vpa_pods{component="vpa-recommender"} 0.0' in metrics
