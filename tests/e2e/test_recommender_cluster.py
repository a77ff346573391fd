"""The in-cluster recommender against a real kube-apiserver: VPA status and conditions,
``recommenders`` semantics, checkpoints (round trip and GC) and Lease leader election.

The VPA CRDs come from ``manifests/crds``. There is no metrics-server in the test cluster,
so usage is fed into the model directly (as the metrics API would); the loop must survive
the missing ``metrics.k8s.io`` API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender.cluster.api import KubeApi, api_client
from recommender.cluster.leader import LeaseElector
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from recommender.history import CPU, MEMORY, Samples
from recommender.quantity import parse_quantity
from tests.e2e.cluster import KubeCluster, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0
MI = 2**20


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                {"name": "app", "image": "registry.invalid/app:1",
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            ]}},
        },
    }


def _vpa(name: str, target: str, recommender: str | None = "tidal", **spec: Any):
    body: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "updatePolicy": {"updateMode": "Off"},
        **spec,
    }
    if recommender is not None:
        body["recommenders"] = [{"name": recommender}]
    return {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": name}, "spec": body,
    }


def _apply(cluster: KubeCluster, namespace: str, *objects: dict[str, Any]) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    proc = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def crds(kube_cluster: KubeCluster) -> None:
    proc = kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k",
                                str(REPO / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr
    for crd in ("verticalpodautoscalers", "verticalpodautoscalercheckpoints"):
        kube_cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}.autoscaling.k8s.io",
            "--timeout=60s", check=True,
        )


@pytest.fixture
def api(kube_cluster: KubeCluster, crds: None) -> Iterator[KubeApi]:
    client = api_client(str(kube_cluster.kubeconfig))
    yield KubeApi(client, qps=0)
    client.close()


def _settings(namespace: str, **kw: Any) -> RecommenderSettings:
    # Upstream's numbers: checkpoints hold the histograms; tidal's hourly state is not
    # checkpointed (after a restart it gives vpa's numbers until it has seen enough hours).
    kw.setdefault("strategy", "vpa")
    return RecommenderSettings(
        namespace=namespace, checkpoint_interval_s=0, gc_interval_s=0, **kw
    )


def _usage(namespace: str, workload: str, pods: list[str], days: float, end: float) -> Samples:
    """Steady usage per minute (CPU) and per 5 minutes (memory) for container app."""
    rng = np.random.default_rng(3)
    rows = []
    for pod in pods:
        for i, t in enumerate(np.arange(end - days * DAY, end, 60.0)):
            rows.append((t, namespace, workload, pod, "app", CPU, 0.2 + rng.gamma(2, 0.05)))
            if i % 5 == 0:
                rows.append((t, namespace, workload, pod, "app", MEMORY,
                             300 * MI + rng.normal(0, 20 * MI)))
    return Samples.from_rows(rows)


def _pods(cluster: KubeCluster, namespace: str, app: str, count: int) -> list[str]:
    def names() -> list[str]:
        items = cluster.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
        return [p["metadata"]["name"] for p in items] if len(items) == count else []

    return wait_until(names, timeout=60, what=f"{count} pods of {app}")


def _status(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.get_json("vpa", "-n", namespace, name).get("status") or {}


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_status_conditions_and_recommenders(kube_cluster, kube_namespace, api):
    ns = kube_namespace
    _apply(kube_cluster, ns, _deployment("web", 2), _deployment("idle", 0),
           _deployment("young", 1))
    _apply(
        kube_cluster, ns,
        _vpa("web", "web"),
        _vpa("idle", "idle"),
        _vpa("young", "young"),
        _vpa("ghost", "missing"),
        _vpa("bad", "web", resourcePolicy={"containerPolicies": [{
            "containerName": "*", "minAllowed": {"cpu": "2"}, "maxAllowed": {"cpu": "1"}}]}),
        _vpa("other", "web", recommender="someone-else"),
        _vpa("plain", "web", recommender=None),
    )
    web_pods = _pods(kube_cluster, ns, "web", 2)
    young_pods = _pods(kube_cluster, ns, "young", 1)
    recommender = Recommender(_settings(ns), api)
    now = recommender.clock()
    recommender.model.ingest(_usage(ns, "Deployment/web", web_pods, 2.0, now).sorted_by_time())
    recommender.model.ingest(
        _usage(ns, "Deployment/young", young_pods, 0.125, now).sorted_by_time()
    )

    report = recommender.run_once()
    assert report.errors.get("metrics_api") == 1  # no metrics-server: logged, not fatal
    assert report.served == 5 and report.status_writes == 5

    web = _status(kube_cluster, ns, "web")
    (rec,) = web["recommendation"]["containerRecommendations"]
    assert rec["containerName"] == "app"
    assert 0.2 < parse_quantity(rec["target"]["cpu"]) < 0.6
    assert 300 * MI < parse_quantity(rec["target"]["memory"]) < 450 * MI
    conditions = _conditions(web)
    assert conditions["RecommendationProvided"]["status"] == "True"
    assert set(conditions) == {"RecommendationProvided"}  # 2 days: confident enough

    young = _conditions(_status(kube_cluster, ns, "young"))
    assert young["LowConfidence"]["status"] == "True"
    assert young["RecommendationProvided"]["status"] == "True"

    idle = _conditions(_status(kube_cluster, ns, "idle"))
    assert idle["NoPodsMatched"]["status"] == "True"
    assert idle["RecommendationProvided"]["status"] == "False"

    ghost = _status(kube_cluster, ns, "ghost")
    assert "Deployment/missing" in _conditions(ghost)["ConfigUnsupported"]["message"]
    assert "recommendation" not in ghost
    bad = _conditions(_status(kube_cluster, ns, "bad"))["ConfigUnsupported"]
    assert "max resource for cpu is lower than min" in bad["message"]

    assert _status(kube_cluster, ns, "other") == {}  # another recommender's VPA
    assert _status(kube_cluster, ns, "plain") == {}  # only `default` serves these

    # Nothing changed meaningfully: no second write, transition times kept.
    again = recommender.run_once()
    assert again.status_writes == 0 and again.unchanged == 5
    assert _conditions(_status(kube_cluster, ns, "web")) == conditions

    default = Recommender(_settings(ns, name="default"), api)
    default.model.ingest(_usage(ns, "Deployment/web", web_pods, 1.0, now).sorted_by_time())
    assert default.run_once().served == 1
    plain = _status(kube_cluster, ns, "plain")
    assert plain["recommendation"]["containerRecommendations"][0]["containerName"] == "app"


def _tide(namespace: str, workload: str, pods: list[str], end: float) -> Samples:
    """Four days to ``end``: 3 cores for 8 hours a day (ending 8 h before ``end``), else 0.5."""
    times = np.arange(end - 4 * DAY, end, 300.0)
    ago = (end - times) % DAY
    busy = (ago > 8 * 3600) & (ago <= 16 * 3600)
    return Samples.from_rows([
        (t, namespace, workload, pod, "app", CPU, 3.0 if b else 0.5)
        for pod in pods for t, b in zip(times.tolist(), busy.tolist(), strict=True)])


def test_in_place_vpa_gets_held_status_and_next_hours_annotation(
    kube_cluster, kube_namespace, api
):
    """The status holds for a pod created at any hour (what any webhook injects); an
    InPlaceOrRecreate VPA also carries the quiet hours ahead for the updater."""
    from recommender.cluster.next_hours import ANNOTATION

    ns = kube_namespace
    _apply(kube_cluster, ns, _deployment("web", 2),
           _vpa("web", "web", updatePolicy={"updateMode": "InPlaceOrRecreate"}))
    pods = _pods(kube_cluster, ns, "web", 2)
    recommender = Recommender(_settings(ns, strategy="tidal"), api)
    recommender.model.ingest(_tide(ns, "Deployment/web", pods, recommender.clock())
                             .sorted_by_time())
    recommender.run_once()
    vpa = kube_cluster.get_json("vpa", "-n", ns, "web")
    (held,) = vpa["status"]["recommendation"]["containerRecommendations"]
    assert parse_quantity(held["target"]["cpu"]) >= 3.0
    (ahead,) = json.loads(vpa["metadata"]["annotations"][ANNOTATION])["containerRecommendations"]
    assert parse_quantity(ahead["target"]["cpu"]) < 1.0
    patched = kube_cluster.kubectl("patch", "vpa", "web", "-n", ns, "--type=merge", "-p",
                                   '{"spec":{"updatePolicy":{"updateMode":"Initial"}}}')
    assert patched.returncode == 0, patched.stderr
    recommender.run_once()
    annotations = kube_cluster.get_json("vpa", "-n", ns, "web")["metadata"].get("annotations")
    assert ANNOTATION not in (annotations or {})


def test_checkpoint_round_trip_and_garbage_collection(kube_cluster, kube_namespace, api):
    ns = kube_namespace
    _apply(kube_cluster, ns, _deployment("web", 2), _vpa("web", "web"))
    pods = _pods(kube_cluster, ns, "web", 2)
    first = Recommender(_settings(ns), api)
    first.model.ingest(_usage(ns, "Deployment/web", pods, 3.0, first.clock()).sorted_by_time())
    report = first.run_once()
    assert report.checkpoints == 1 and report.status_writes == 1
    checkpoint = kube_cluster.get_json("vpacheckpoint", "-n", ns, "web-app")
    assert checkpoint["spec"] == {"vpaObjectName": "web", "containerName": "app"}
    status = checkpoint["status"]
    assert status["version"] == "v3"
    assert max(status["cpuHistogram"]["bucketWeights"].values()) == 10000
    assert status["totalSamplesCount"] == 2 * 3 * 1440
    before = _status(kube_cluster, ns, "web")["recommendation"]

    # "Restart": a fresh model, restored from the checkpoint only.
    second = Recommender(_settings(ns), api)
    restarted = second.run_once()
    assert restarted.status_writes == 0  # the same recommendation within rounding
    row = second.model.find(first.model.keys[0])
    assert row is not None and second.model.sample_count[row] == 2 * 3 * 1440
    after = _status(kube_cluster, ns, "web")["recommendation"]
    assert after == before
    recomputed = second.outcomes(second.load_view())[0][(ns, "web")][1].recommendations[0]
    original = first.outcomes(first.load_view())[0][(ns, "web")][1].recommendations[0]
    for resource, value in original.target.items():
        assert abs(recomputed.target[resource] - value) <= 0.051 * value

    # An orphan (its VPA is gone) is collected; the live one stays.
    orphan = {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscalerCheckpoint",
        "metadata": {"name": "gone-app"},
        "spec": {"vpaObjectName": "gone", "containerName": "app"},
    }
    _apply(kube_cluster, ns, orphan)
    assert second.run_once().deleted_checkpoints == 1
    names = [c["metadata"]["name"] for c in
             kube_cluster.get_json("vpacheckpoint", "-n", ns)["items"]]
    assert names == ["web-app"]
    kube_cluster.kubectl("delete", "vpa", "-n", ns, "web", check=True)
    assert second.run_once().deleted_checkpoints == 1
    assert kube_cluster.get_json("vpacheckpoint", "-n", ns)["items"] == []


def test_leader_election_one_leader(kube_cluster, kube_namespace, api):
    ns = kube_namespace
    ticks = {"a": 0.0, "b": 0.0}
    a = LeaseElector(api, ns, "tidal-recommender-tidal", "replica-a", 2.0,
                     monotonic=lambda: ticks["a"])
    b = LeaseElector(api, ns, "tidal-recommender-tidal", "replica-b", 2.0,
                     monotonic=lambda: ticks["b"])
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.try_acquire_or_renew()  # renewing
    ticks["b"] += 1.0
    assert not b.try_acquire_or_renew()  # a renewed: the record changed, b waits again
    lease = kube_cluster.get_json("lease", "-n", ns, "tidal-recommender-tidal")["spec"]
    assert lease["holderIdentity"] == "replica-a" and lease["leaseTransitions"] == 0

    ticks["b"] += 5.0  # a stopped renewing for longer than the lease duration
    assert b.try_acquire_or_renew()
    assert not a.try_acquire_or_renew()  # a sees b's fresh record
    lease = kube_cluster.get_json("lease", "-n", ns, "tidal-recommender-tidal")["spec"]
    assert lease["holderIdentity"] == "replica-b" and lease["leaseTransitions"] == 1

    b.release()  # a clean shutdown hands over at once
    assert a.try_acquire_or_renew()


def test_racing_candidates_only_one_wins(kube_cluster, kube_namespace, api):
    """Both read a free Lease, both write: the resourceVersion makes one write fail."""
    ns = kube_namespace
    electors = [LeaseElector(api, ns, "race", f"r{i}", 15.0) for i in range(2)]
    stale = api.get(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/race")
    assert stale is None
    results = [e.try_acquire_or_renew() for e in electors]
    assert results == [True, False]
    settings = replace(_settings(ns), lease_name="race")
    assert settings.lease == "race"


def test_run_command_serves_metrics_holds_the_lease_and_releases_it(
    kube_cluster, kube_namespace, crds
):
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    ns = kube_namespace
    _apply(kube_cluster, ns, _deployment("web", 1), _vpa("web", "web"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "recommender", "run", "--kubeconfig", str(kube_cluster.kubeconfig),
         "--namespace", ns, "--lease-namespace", ns, "--interval", "1s", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )
    try:
        def holder() -> str:
            proc_ = kube_cluster.kubectl("get", "lease", "-n", ns, "tidal-recommender-tidal",
                                         "-o", "jsonpath={.spec.holderIdentity}")
            return proc_.stdout if proc_.returncode == 0 else ""

        assert wait_until(holder, timeout=60, what="the Lease")
        status = wait_until(lambda: _status(kube_cluster, ns, "web"), timeout=60,
                            what="the VPA status")
        provided = _conditions(status)["RecommendationProvided"]
        assert (provided["status"], provided["reason"]) == ("False", "NoHistory")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"tidal_recommender_leader 1.0" in body
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert holder() == ""  # released on SIGTERM
