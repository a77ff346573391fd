"""``kubectl apply -k manifests/`` against the real apiserver.

Objects that run images (Deployments, the certificate Job and CronJob) and the webhook
configurations (they would send every pod and autoscaler of the shared test cluster to a
Service with no endpoints) are checked with a server-side dry-run: admission, defaulting and
validation, nothing stored. Everything else is applied for real, so that the RBAC the
manifests grant can be checked by the apiserver's own authorizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import KubeCluster
from webhook.state import KINDS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
DRY_RUN_ONLY = {
    "Deployment",
    "Job",
    "CronJob",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}
# The kinds the webhook's caches list and watch (webhook.state.KINDS), as RBAC resources.
WATCHED = {
    "VerticalPodAutoscaler": ("autoscaling.k8s.io", "verticalpodautoscalers"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "LimitRange": ("", "limitranges"),
    "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"),
    "StatefulSet": ("apps", "statefulsets"),
    "Deployment": ("apps", "deployments"),
    "DaemonSet": ("apps", "daemonsets"),
    "Namespace": ("", "namespaces"),
    "ResourceClaimTemplate": ("resource.k8s.io", "resourceclaimtemplates"),
}


@pytest.fixture(scope="module")
def objects(kube_cluster: KubeCluster) -> list[dict[str, Any]]:
    """Everything ``manifests/`` renders; the parts that run nothing applied for real."""
    rendered = kube_cluster.kubectl("kustomize", str(MANIFESTS), check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    real = [d for d in docs if d["kind"] not in DRY_RUN_ONLY]
    # Namespaces and CRDs first: the rest lives in them.
    real.sort(key=lambda d: d["kind"] not in ("Namespace", "CustomResourceDefinition"))
    proc = kube_cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": real})
    )
    assert proc.returncode == 0, proc.stderr
    return docs


def test_apply_k_is_accepted_with_a_server_side_dry_run(
    kube_cluster: KubeCluster, objects: list[dict[str, Any]]
) -> None:
    proc = kube_cluster.kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server")

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(objects)
    assert all(line.endswith("(server dry run)") for line in lines)
    for kind in DRY_RUN_ONLY:
        assert any(line.startswith(f"{kind.lower()}.") for line in lines), kind


def can_i(cluster: KubeCluster, account: str, checks: list[dict[str, str]]) -> list[bool]:
    """The apiserver's authorizer on each ``resourceAttributes`` (one kubectl call)."""
    reviews = [
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
         "spec": {"user": f"system:serviceaccount:tidal-system:{account}",
                  "groups": ["system:serviceaccounts", "system:serviceaccounts:tidal-system"],
                  "resourceAttributes": check}}
        for check in checks
    ]  # fmt: skip
    proc = cluster.kubectl(
        "create", "-o", "json", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    decoder, text, results = json.JSONDecoder(), proc.stdout.strip(), []
    while text:  # kubectl prints one JSON document per created object
        review, end = decoder.raw_decode(text)
        results.append(bool(review["status"].get("allowed")))
        text = text[end:].lstrip()
    return results


def test_the_webhook_service_account_may_watch_what_the_webhook_caches(
    kube_cluster: KubeCluster, objects: list[dict[str, Any]]
) -> None:
    assert set(WATCHED) == set(KINDS)
    checks = [
        {"verb": verb, "group": group, "resource": resource}
        for group, resource in WATCHED.values()
        for verb in ("list", "watch")
    ]
    assert can_i(kube_cluster, "tidal-webhook", checks) == [True] * len(checks)
    assert can_i(kube_cluster, "tidal-webhook", [{"verb": "list", "resource": "secrets"}]) == [
        False
    ]


def test_the_recommender_may_write_status_checkpoints_and_its_lease(
    kube_cluster: KubeCluster, objects: list[dict[str, Any]]
) -> None:
    vpa = {"group": "autoscaling.k8s.io", "resource": "verticalpodautoscalers"}
    checkpoints = {"group": "autoscaling.k8s.io", "resource": "verticalpodautoscalercheckpoints"}
    lease = {"group": "coordination.k8s.io", "resource": "leases"}
    checks = [
        {"verb": "patch", **vpa, "subresource": "status"},
        {"verb": "create", **checkpoints},
        {"verb": "delete", **checkpoints},
        {"verb": "update", **lease, "namespace": "tidal-system"},
        {"verb": "list", "resource": "pods"},
        {"verb": "update", **lease, "namespace": "default"},  # only its own namespace
    ]
    assert can_i(kube_cluster, "tidal-recommender", checks) == [True] * 5 + [False]


def test_the_updater_may_resize_and_evict_but_not_delete_or_patch_pods(
    kube_cluster: KubeCluster, objects: list[dict[str, Any]]
) -> None:
    checks = [
        {"verb": "patch", "resource": "pods", "subresource": "resize"},
        {"verb": "create", "resource": "pods", "subresource": "eviction"},
        {"verb": "list", "group": "autoscaling.k8s.io", "resource": "verticalpodautoscalers"},
        {"verb": "update", "group": "coordination.k8s.io", "resource": "leases",
         "namespace": "tidal-system"},
        {"verb": "delete", "resource": "pods"},
        {"verb": "patch", "resource": "pods"},
        {"verb": "patch", "group": "autoscaling.k8s.io", "resource": "verticalpodautoscalers",
         "subresource": "status"},
    ]  # fmt: skip
    assert can_i(kube_cluster, "tidal-updater", checks) == [True] * 4 + [False] * 3


def test_the_external_metrics_overlay_is_accepted_with_a_server_side_dry_run(
    kube_cluster: KubeCluster,
) -> None:
    overlay = MANIFESTS / "overlays" / "external-metrics"
    proc = kube_cluster.kubectl("apply", "-k", str(overlay), "--dry-run=server")
    assert proc.returncode == 0, proc.stderr
    assert "apiservice.apiregistration.k8s.io/v1beta1.external.metrics.k8s.io created " \
        "(server dry run)" in proc.stdout
    assert "rolebinding.rbac.authorization.k8s.io/tidal-recommender-auth-reader created " \
        "(server dry run)" in proc.stdout
