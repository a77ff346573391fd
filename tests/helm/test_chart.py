"""The Helm chart: lint, the same objects as the kustomize manifests by default, and values
that change what an operator expects them to change."""

from __future__ import annotations

from typing import Any

from tests.helm.conftest import CHART, NAMESPACE, run_helm, template
from tests.manifests.conftest import render


def _by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"] if obj["kind"] == "CronJob" \
        else spec["template"]["spec"]
    return pod["containers"]


def test_lint(helm):
    proc = run_helm(helm, "lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_defaults_render_the_kustomize_manifests(helm):
    chart = _by_key(template(helm))
    kustomize = _by_key([o for o in render("base") if o["kind"] != "Namespace"])
    assert set(chart) == set(kustomize)  # the release namespace is helm's (--create-namespace)
    for key, obj in kustomize.items():
        assert chart[key] == obj, key


def test_values_change_images_replicas_resources_and_the_recommender_name(helm):
    objects = _by_key(template(
        helm, "image.repository=registry.example/tidal", "image.tag=1.2.3",
        "webhook.replicas=5", "recommender.name=tidal-gpu",
        "updater.resources.limits.memory=1Gi"))
    images = {c["image"] for o in objects.values()
              if o["kind"] in ("Deployment", "Job", "CronJob") for c in _containers(o)}
    assert images == {"registry.example/tidal:1.2.3"}
    assert objects[("Deployment", "tidal-webhook")]["spec"]["replicas"] == 5
    args = _containers(objects[("Deployment", "tidal-recommender")])[0]["args"]
    assert args[args.index("--name") + 1] == "tidal-gpu"
    (updater,) = _containers(objects[("Deployment", "tidal-updater")])
    assert updater["resources"]["limits"]["memory"] == "1Gi"
    digest = template(helm, "image.digest=sha256:" + "a" * 64)
    assert {c["image"] for o in digest if o["kind"] == "Deployment" for c in _containers(o)} \
        == {"ghcr.io/tidal-dev/tidal@sha256:" + "a" * 64}


def test_cert_manager_mode_and_parts_left_out(helm):
    objects = _by_key(template(helm, "certs.mode=cert-manager"))
    assert not [k for k in objects if k[0] in ("Job", "CronJob")]
    assert objects[("Certificate", "tidal-webhook")]["spec"]["secretName"] == "tidal-webhook-tls"
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert objects[(kind, "tidal-webhook")]["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": f"{NAMESPACE}/tidal-webhook"}
    without = _by_key(template(helm, "webhook.enabled=false", "updater.enabled=false"))
    assert {k[1] for k in without if k[0] == "Deployment"} == {"tidal-recommender"}
    assert not [k for k in without if "Webhook" in k[0] or k[0] in ("Job", "CronJob")]


def test_namespace_and_exclusions_follow_the_release(helm):
    objects = _by_key(template(helm, "webhook.excludeNamespaces={kube-system,monitoring}",
                               namespace="autoscaling"))
    mutating = objects[("MutatingWebhookConfiguration", "tidal-webhook")]["webhooks"][0]
    names = mutating["namespaceSelector"]["matchExpressions"][0]["values"]
    assert names == ["kube-system", "monitoring", "autoscaling"]
    assert mutating["clientConfig"]["service"]["namespace"] == "autoscaling"
    namespaced = [o for o in objects.values() if "namespace" in o["metadata"]]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"autoscaling"}
    binding = objects[("ClusterRoleBinding", "tidal-webhook")]
    assert binding["subjects"][0]["namespace"] == "autoscaling"
