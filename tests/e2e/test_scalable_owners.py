"""Workloads of custom kinds with ``/scale`` on the real control plane (LeaderWorkerSet, Argo
Rollout): their pods are sized at creation by the webhook and counted by the recommender
under the custom workload; a VPA on a kind without ``/scale`` gets ``ConfigUnsupported``.

CRDs shaped like the real ones (group, kind, the scale subresource's paths) are installed;
no LeaderWorkerSet or Rollout controller runs, so the test creates what they would: the
leader StatefulSet (owned by the LeaderWorkerSet), each group's worker StatefulSet (owned by
its leader pod), and the Rollout's ReplicaSet. kube-controller-manager creates the pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from recommender.cluster.api import KubeApi, api_client
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from scripts.dev import DevStack
from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.tidal_stack import (
    apply,
    container,
    dry_run,
    set_recommendation,
    stack_namespace,
    wait_for_webhook,
    webhook_stack,
)

pytestmark = pytest.mark.e2e

LWS = ("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", "leaderworkersets")
ROLLOUT = ("argoproj.io", "v1alpha1", "Rollout", "rollouts")
WIDGET = ("example.tidal.dev", "v1", "Widget", "widgets")  # no /scale


def crd(group: str, version: str, kind: str, plural: str, scale: bool) -> dict[str, Any]:
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas",
                                 "statusReplicasPath": ".status.replicas",
                                 "labelSelectorPath": ".status.selector"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                           "listKind": f"{kind}List"},
                 "versions": [{"name": version, "served": True, "storage": True,
                               "subresources": subresources,
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}}]},
    }


@pytest.fixture(scope="module")
def crds(kube_cluster: KubeCluster) -> None:
    objects = [crd(*LWS, scale=True), crd(*ROLLOUT, scale=True), crd(*WIDGET, scale=False)]
    apply(kube_cluster, "", *objects)
    for obj in objects:
        kube_cluster.kubectl("wait", "--for=condition=Established",
                             f"crd/{obj['metadata']['name']}", "--timeout=60s", check=True)


@pytest.fixture(scope="module")
def stack(kube_cluster: KubeCluster, crds: None, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[DevStack]:
    with webhook_stack(kube_cluster, tmp_path_factory.mktemp("tidal-owners")) as running:
        yield running


def create(cluster: KubeCluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    proc = cluster.kubectl("create", "-n", namespace, "-o", "json", "-f", "-",
                           input=json.dumps(obj))
    assert proc.returncode == 0, proc.stderr
    created: dict[str, Any] = json.loads(proc.stdout)
    return created


def owned_by(owner: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
             "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
             "controller": True}]


def custom(kind: tuple[str, str, str, str], name: str) -> dict[str, Any]:
    group, version, kind_name, _ = kind
    return {"apiVersion": f"{group}/{version}", "kind": kind_name, "metadata": {"name": name},
            "spec": {"replicas": 1}}


def pod_template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [
        container("server", {"cpu": "100m", "memory": "64Mi"})]}}


def stateful_set(name: str, app: str, replicas: int, owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "ownerReferences": owned_by(owner)},
            "spec": {"replicas": replicas, "serviceName": name,
                     "podManagementPolicy": "Parallel",  # no kubelet: pods never get Ready
                     "selector": {"matchLabels": {"app": app}},
                     "template": pod_template(app)}}


def vpa(name: str, kind: tuple[str, str, str, str], target: str) -> dict[str, Any]:
    group, version, kind_name, _ = kind
    return {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"targetRef": {"apiVersion": f"{group}/{version}", "kind": kind_name,
                                   "name": target},
                     "updatePolicy": {"updateMode": "Recreate"}}}


def probe(name: str, owner: dict[str, Any], app: str) -> dict[str, Any]:
    """A pod owned by ``owner``, for dry-runs only."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app},
                         "ownerReferences": owned_by(owner)},
            "spec": pod_template(app)["spec"]}


def sized(cluster: KubeCluster, namespace: str, pod: dict[str, Any]) -> bool:
    code, admitted = dry_run(cluster, namespace, pod)
    return code == 0 and admitted["spec"]["containers"][0]["resources"]["requests"][
        "cpu"] == "500m"


def pods(cluster: KubeCluster, namespace: str, app: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        items = cluster.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
        return items if len(items) == count else []

    return wait_until(found, timeout=60, what=f"{count} pods of {app}")


def scale(cluster: KubeCluster, namespace: str, what: str, replicas: int) -> None:
    proc = cluster.kubectl("scale", "-n", namespace, what, f"--replicas={replicas}")
    assert proc.returncode == 0, proc.stderr


def test_custom_scalable_workloads_are_sized_and_counted(kube_cluster: KubeCluster,
                                                         stack: DevStack) -> None:
    ns = stack_namespace(kube_cluster, stack, "tidal-owners")
    target = {"server": {"cpu": "500m", "memory": "128Mi"}}
    for name, kind, workload in (("llm", LWS, "llm"), ("shop", ROLLOUT, "shop"),
                                 ("widget", WIDGET, "w")):
        apply(kube_cluster, ns, vpa(name, kind, workload))
        set_recommendation(kube_cluster, ns, name, target)
    lws = create(kube_cluster, ns, custom(LWS, "llm"))
    rollout = create(kube_cluster, ns, custom(ROLLOUT, "shop"))
    create(kube_cluster, ns, custom(WIDGET, "w"))
    leader_sts = create(kube_cluster, ns, stateful_set("llm", "llm-leader", 0, lws))
    rs = create(kube_cluster, ns, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "shop-5f6d", "ownerReferences": owned_by(rollout)},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "shop"}},
                 "template": pod_template("shop")}})
    wait_for_webhook(lambda: sized(kube_cluster, ns, probe("shop-probe", rs, "shop"))
                     and sized(kube_cluster, ns, probe("llm-probe", leader_sts, "llm-leader")),
                     "the webhook to resolve Rollout and LeaderWorkerSet pods")
    scale(kube_cluster, ns, "replicaset/shop-5f6d", 2)
    scale(kube_cluster, ns, "statefulset/llm", 1)
    (leader,) = pods(kube_cluster, ns, "llm-leader", 1)
    # Each group's workers: a StatefulSet the leader pod owns (as the LWS controller makes it).
    worker_sts = create(kube_cluster, ns, stateful_set("llm-0", "llm-worker", 0, leader))
    wait_for_webhook(lambda: sized(kube_cluster, ns, probe("w-probe", worker_sts,
                                                           "llm-worker")),
                     "the webhook to resolve a worker through its leader pod")
    scale(kube_cluster, ns, "statefulset/llm-0", 2)
    workers = pods(kube_cluster, ns, "llm-worker", 2)
    # A second group whose workers come at once, as the LWS controller makes them: the
    # webhook reads the new leader pod when the first worker is admitted, if not fetched yet.
    scale(kube_cluster, ns, "statefulset/llm", 2)
    leaders = pods(kube_cluster, ns, "llm-leader", 2)
    second = next(p for p in leaders if p["metadata"]["name"] == "llm-1")
    create(kube_cluster, ns, stateful_set("llm-1", "llm-worker", 2, second))
    workers = pods(kube_cluster, ns, "llm-worker", 4)
    created = [*leaders, *workers, *pods(kube_cluster, ns, "shop", 2)]
    for pod in created:
        requests = pod["spec"]["containers"][0]["resources"]["requests"]
        assert requests == {"cpu": "500m", "memory": "128Mi"}, pod["metadata"]["name"]
        assert "vpaUpdates" in pod["metadata"]["annotations"]

    client = api_client(str(kube_cluster.kubeconfig))
    try:
        rec = Recommender(RecommenderSettings(namespace=ns, checkpoint_interval_s=0,
                                              gc_interval_s=0, serve_unnamed="always"),
                          KubeApi(client, qps=0))
        view = rec.load_view()
        workloads = {p.name: p.workload for p in view.pods}
        assert workloads == {
            **{p["metadata"]["name"]: "LeaderWorkerSet/llm" for p in [*leaders, *workers]},
            **{p["metadata"]["name"]: "Rollout/shop" for p in created[6:]}}
        rec.run_once()
    finally:
        client.close()
    conditions = {c["type"]: c for c in kube_cluster.get_json("vpa", "-n", ns, "widget")[
        "status"]["conditions"]}
    assert conditions["ConfigUnsupported"]["status"] == "True"
    assert conditions["ConfigUnsupported"]["message"] == (
        "targetRef Widget/w: Widget.example.tidal.dev has no /scale subresource: a VPA "
        "targets a well-known controller or a kind that can be scaled")
    for name in ("llm", "shop"):  # matched their pods: no NoPodsMatched, no ConfigUnsupported
        status = kube_cluster.get_json("vpa", "-n", ns, name).get("status") or {}
        types = {c["type"]: c["status"] for c in status.get("conditions") or []}
        assert types.get("NoPodsMatched") != "True" and "ConfigUnsupported" not in types, types
