"""Tidal's webhook behind a real kube-apiserver, registered as ``make dev`` registers it.

Pods that kube-controller-manager creates for a Deployment get the VPA's recommendation;
``kubectl apply`` of conflicting HPA/VPA pairs and of invalid VPAs fails with the webhook's
message, printed by the real kubectl.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from recommender.quantity import parse_quantity
from recommender.vpa import parse_vpa
from scripts.dev import CONFIGURATIONS, DevStack
from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.tidal_stack import (
    VALIDATING_WEBHOOK,
    apply,
    container,
    denial,
    deployment,
    dry_run,
    hpa,
    probe_pod,
    set_recommendation,
    stack_namespace,
    vpa,
    wait_for_webhook,
    webhook_stack,
    write_file,
)
from webhook.conflicts import hpa_conflict, template_of, vpa_conflict
from webhook.hpa import parse_hpa
from webhook.state import ClusterState

pytestmark = pytest.mark.e2e

GPU = "nvidia.com/gpu"


def in_namespace(obj: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}


def quantities(values: Mapping[str, str]) -> dict[str, float]:
    return {name: parse_quantity(value) for name, value in values.items()}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stack(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevStack]:
    with webhook_stack(kube_cluster, tmp_path_factory.mktemp("tidal-admission")) as running:
        yield running


WEB = deployment("web", [
    container("app", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m", "memory": "128Mi"}),
    container("sidecar", {"cpu": "50m", "memory": "32Mi"}),
])  # fmt: skip
OFF = deployment("batch", [container("app", {"cpu": "100m", "memory": "64Mi"})], replicas=1)
TRAINER = deployment("trainer", [
    container("trainer", {"cpu": "500m", "memory": "1Gi"},
              {"cpu": "1", "memory": "1Gi", GPU: "1"}),
], replicas=1)  # fmt: skip


@pytest.fixture(scope="module")
def pods(kube_cluster: KubeCluster, stack: DevStack) -> dict[str, list[dict[str, Any]]]:
    """Three Deployments whose VPAs hold recommendations; their pods, by Deployment."""
    namespace = stack_namespace(kube_cluster, stack, "tidal-pods")
    # Written in this order: the webhook's watch delivers them in order, so once it shows
    # the last one (probed below), it holds the earlier ones too.
    apply(kube_cluster, namespace, vpa("batch", "batch", mode="Off"))
    set_recommendation(kube_cluster, namespace, "batch", {"app": {"cpu": "1", "memory": "1Gi"}})
    apply(kube_cluster, namespace,
          vpa("trainer", "trainer", controlledResources=["cpu", "memory", GPU]))  # fmt: skip
    set_recommendation(
        kube_cluster, namespace, "trainer", {"trainer": {"cpu": "2", "memory": "2Gi", GPU: "2"}}
    )
    apply(kube_cluster, namespace, vpa("web", "web"))
    set_recommendation(kube_cluster, namespace, "web", {"app": {"cpu": "250m", "memory": "100Mi"}})

    def sized(deploy: Mapping[str, Any]) -> bool:
        code, pod = dry_run(kube_cluster, namespace, probe_pod(deploy))
        return code == 0 and "vpaUpdates" in (pod["metadata"].get("annotations") or {})

    wait_for_webhook(lambda: sized(TRAINER) and sized(WEB), "the webhook to size probe pods")
    apply(kube_cluster, namespace, WEB, OFF, TRAINER)
    found = {}
    for deploy in (WEB, OFF, TRAINER):
        name, replicas = deploy["metadata"]["name"], deploy["spec"]["replicas"]

        def created(name: str = name, replicas: int = replicas) -> list[dict[str, Any]]:
            items = kube_cluster.get_json("pods", "-n", namespace, "-l", f"app={name}")["items"]
            return items if len(items) == replicas else []

        found[name] = wait_until(created, timeout=60, what=f"{replicas} pods of {name}")
    return found


@pytest.fixture(scope="module")
def autoscalers(kube_cluster: KubeCluster, stack: DevStack) -> str:
    """A namespace for the HPA/VPA validation tests."""
    return stack_namespace(kube_cluster, stack, "tidal-autoscalers")


# --------------------------------------------------------------------------- pods


def test_pods_created_by_the_controllers_get_the_recommendation(
    pods: dict[str, list[dict[str, Any]]],
) -> None:
    for pod in pods["web"]:
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        app, sidecar = pod["spec"]["containers"]
        assert quantities(app["resources"]["requests"]) == quantities(
            {"cpu": "250m", "memory": "100Mi"}
        )
        # Limits keep their ratio to the requests (2x here).
        assert quantities(app["resources"]["limits"]) == quantities(
            {"cpu": "500m", "memory": "200Mi"}
        )
        assert sidecar["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"}}
        annotations = pod["metadata"]["annotations"]
        assert annotations["vpaUpdates"] == (
            "Pod resources updated by web: container 0: cpu request, memory request, "
            "cpu limit, memory limit"
        )
        assert annotations["vpaObservedContainers"] == "app, sidecar"


def test_update_mode_off_leaves_pods_untouched(pods: dict[str, list[dict[str, Any]]]) -> None:
    (pod,) = pods["batch"]
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"}
    }
    annotations = pod["metadata"].get("annotations") or {}
    assert "vpaUpdates" not in annotations and "vpaObservedContainers" not in annotations


def test_gpu_pods_keep_requests_equal_to_limits(pods: dict[str, list[dict[str, Any]]]) -> None:
    (pod,) = pods["trainer"]
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"][GPU] == resources["limits"][GPU] == "2"
    assert quantities(resources["requests"]) == quantities({"cpu": "2", "memory": "2Gi", GPU: "2"})
    # cpu keeps its 2x limit; memory had request == limit, and keeps it.
    assert quantities(resources["limits"]) == quantities({"cpu": "4", "memory": "2Gi", GPU: "2"})


# --------------------------------------------------------------------------- HPA / VPA


def _apply_file(cluster: KubeCluster, namespace: str, path: Path):
    return cluster.kubectl("apply", "-n", namespace, "-f", str(path))


def _denied(cluster: KubeCluster, namespace: str, obj: Mapping[str, Any]) -> bool:
    code, stderr = dry_run(cluster, namespace, obj)
    return code != 0 and f'admission webhook "{VALIDATING_WEBHOOK}" denied' in stderr


def _accepted(cluster: KubeCluster, namespace: str, obj: Mapping[str, Any]) -> bool:
    return dry_run(cluster, namespace, obj)[0] == 0


# Deployments api and queue do not exist: their containers are unknown to the webhook.
NO_WORKLOADS = ClusterState.from_objects([])


def test_hpa_conflicting_with_an_active_vpa_is_denied(
    kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path
) -> None:
    namespace = autoscalers
    apply(kube_cluster, namespace, vpa("api", "api"))
    conflicting = hpa("api", "api", "cpu")
    wait_for_webhook(lambda: _denied(kube_cluster, namespace, conflicting), "the VPA to be seen")
    path = write_file(tmp_path, "hpa.yaml", conflicting)

    proc = _apply_file(kube_cluster, namespace, path)

    stored_vpa = kube_cluster.get_json("verticalpodautoscaler", "api", "-n", namespace)
    conflict = hpa_conflict(parse_hpa(in_namespace(conflicting, namespace)),
                            [parse_vpa(stored_vpa)],
                            template_of(NO_WORKLOADS, namespace, "Deployment", "api"))
    assert conflict is not None
    message = conflict.hpa_denial()
    assert f"HorizontalPodAutoscaler {namespace}/api" in message
    assert f"VerticalPodAutoscaler {namespace}/api" in message
    assert proc.returncode == 1
    assert proc.stderr == denial(path, message)
    assert kube_cluster.kubectl("get", "hpa", "api", "-n", namespace).returncode != 0


def test_vpa_conflicting_with_an_existing_hpa_is_denied(
    kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path
) -> None:
    namespace = autoscalers
    apply(kube_cluster, namespace, hpa("queue", "queue", "memory"))
    conflicting = vpa("queue", "queue")
    wait_for_webhook(lambda: _denied(kube_cluster, namespace, conflicting), "the HPA to be seen")
    path = write_file(tmp_path, "vpa.yaml", conflicting)

    proc = _apply_file(kube_cluster, namespace, path)

    stored_hpa = kube_cluster.get_json("hpa.v2.autoscaling", "queue", "-n", namespace)
    conflict = vpa_conflict(parse_vpa(in_namespace(conflicting, namespace)),
                            [parse_hpa(stored_hpa)],
                            template_of(NO_WORKLOADS, namespace, "Deployment", "queue"))
    assert conflict is not None
    message = conflict.vpa_denial()
    assert "memory" in message
    assert proc.returncode == 1
    assert proc.stderr == denial(path, message)
    assert kube_cluster.kubectl("get", "vpa", "queue", "-n", namespace).returncode != 0


def test_invalid_vpa_is_denied(kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path) -> None:
    namespace = autoscalers
    invalid = vpa("cache", "cache", minAllowed={"cpu": "2"}, maxAllowed={"cpu": "1"})
    path = write_file(tmp_path, "invalid-vpa.yaml", invalid)

    proc = _apply_file(kube_cluster, namespace, path)

    assert proc.returncode == 1
    assert proc.stderr == denial(
        path,
        f"VerticalPodAutoscaler {namespace}/cache is invalid: "
        "spec.resourcePolicy.containerPolicies[0].maxAllowed.cpu: "
        "max resource for cpu is lower than min",
    )


def test_compatible_hpa_and_vpa_are_accepted(
    kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path
) -> None:
    namespace = autoscalers
    apply(kube_cluster, namespace, vpa("worker", "worker", controlledResources=["memory"]))
    # The webhook has seen the memory-only VPA once an HPA on memory is denied...
    on_memory = hpa("worker", "worker", "memory")
    wait_for_webhook(lambda: _denied(kube_cluster, namespace, on_memory), "the VPA to be seen")
    # ...and an HPA on cpu, the resource the VPA leaves alone, goes through.
    path = write_file(tmp_path, "hpa.yaml", hpa("worker", "worker", "cpu"))

    proc = _apply_file(kube_cluster, namespace, path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    stored = kube_cluster.get_json("hpa.v2.autoscaling", "worker", "-n", namespace)
    assert stored["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def _on_app_cpu_only(name: str, target: str) -> dict[str, Any]:
    """A VPA whose only policy sizes container ``app``, for cpu only."""
    obj = vpa(name, target)
    obj["spec"]["resourcePolicy"] = {
        "containerPolicies": [{"containerName": "app", "controlledResources": ["cpu"]}]}
    return obj


APP = container("app", {"cpu": "50m", "memory": "32Mi"})
SIDECAR = container("sidecar", {"cpu": "10m", "memory": "16Mi"})


def _seen(cluster: KubeCluster, namespace: str, target: str) -> None:
    """Wait until the webhook holds the VPA (an HPA on cpu is denied) and the Deployment's
    template (before it, its containers are unknown and an HPA on memory is denied too)."""
    wait_for_webhook(lambda: _denied(cluster, namespace, hpa("probe", target, "cpu")),
                     "the VPA to be seen")
    wait_for_webhook(lambda: _accepted(cluster, namespace, hpa("probe", target, "memory")),
                     "the Deployment to be seen", confirmations=4)


def test_hpa_on_memory_beside_a_cpu_only_vpa_on_the_only_container_is_accepted(
    kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path
) -> None:
    namespace = autoscalers
    apply(kube_cluster, namespace, deployment("solo", [APP], replicas=1),
          _on_app_cpu_only("solo", "solo"))
    _seen(kube_cluster, namespace, "solo")
    path = write_file(tmp_path, "hpa.yaml", hpa("solo", "solo", "memory"))

    proc = _apply_file(kube_cluster, namespace, path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == "horizontalpodautoscaler.autoscaling/solo created\n"


def test_gitops_update_of_an_hpa_already_in_conflict_is_allowed_with_a_warning(
    kube_cluster: KubeCluster, autoscalers: str, tmp_path: Path
) -> None:
    namespace = autoscalers
    apply(kube_cluster, namespace, deployment("pair", [APP], replicas=1),
          _on_app_cpu_only("pair", "pair"))
    _seen(kube_cluster, namespace, "pair")
    apply(kube_cluster, namespace, hpa("pair", "pair", "memory"))
    # A sidecar added to the Deployment (which Tidal does not validate) makes the conflict:
    # the VPA sizes the sidecar's memory by default.
    apply(kube_cluster, namespace, deployment("pair", [APP, SIDECAR], replicas=1))
    wait_for_webhook(lambda: _denied(kube_cluster, namespace, hpa("probe", "pair", "memory")),
                     "the sidecar to be seen", confirmations=4)
    updated = hpa("pair", "pair", "memory")
    updated["spec"]["maxReplicas"] = 8
    path = write_file(tmp_path, "hpa.yaml", updated)

    proc = _apply_file(kube_cluster, namespace, path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "Warning: HPA pair scales Deployment/pair on memory, which VPA pair also sizes: they "
        "conflict\n"
        "Warning: allowed: they conflicted before this update too (a new conflict is denied)\n"
        'Warning: fix: add {containerName: "*", controlledResources: ["cpu"]} to VPA pair\'s '
        "containerPolicies\n"
        "Warning: or set VPA pair's updateMode to Off, or scale HPA pair on a custom or external "
        "metric (tidal_forecast)\n"
    )
    assert proc.stdout == "horizontalpodautoscaler.autoscaling/pair configured\n"
    stored = kube_cluster.get_json("hpa.v2.autoscaling", "pair", "-n", namespace)
    assert stored["spec"]["maxReplicas"] == 8

    # A new HPA on the same workload is a new conflict: denied, with the precise fix.
    path = write_file(tmp_path, "hpa-2.yaml", hpa("pair-2", "pair", "memory"))
    proc = _apply_file(kube_cluster, namespace, path)
    assert proc.returncode == 1
    assert proc.stderr == denial(path, (
        f"HorizontalPodAutoscaler {namespace}/pair-2 scales Deployment/pair on memory "
        f"utilization, but VerticalPodAutoscaler {namespace}/pair (updateMode Recreate) also "
        "controls memory of container sidecar in Deployment/pair (sidecar has no "
        "containerPolicies entry, so the VPA sizes its cpu and memory by default). Scale the "
        "HPA on a custom or external metric such as tidal_forecast, add {containerName: \"*\", "
        "controlledResources: [\"cpu\"]} to the VPA's containerPolicies, or set its updateMode "
        "to Off."))


def test_the_webhook_configurations_mirror_the_manifests(
    kube_cluster: KubeCluster, stack: DevStack
) -> None:
    """What the apiserver stored: manifests' rules and policies, a URL and the CA bundle."""
    installed = {d["kind"]: d for d in yaml.safe_load_all(CONFIGURATIONS.read_text()) if d}
    port = stack.webhook_port
    for kind, path in (("MutatingWebhookConfiguration", "/mutate"),
                       ("ValidatingWebhookConfiguration", "/validate")):  # fmt: skip
        stored = kube_cluster.get_json(kind.lower(), stack.settings.config_name)
        (hook,) = stored["webhooks"]
        (wanted,) = installed[kind]["webhooks"]
        assert hook["name"] == wanted["name"]
        assert hook["clientConfig"]["url"] == f"https://127.0.0.1:{port}{path}"
        assert hook["clientConfig"]["caBundle"]
        for key in ("rules", "failurePolicy", "sideEffects", "timeoutSeconds", "objectSelector"):
            assert hook[key] == wanted[key], key
        expressions = hook["namespaceSelector"]["matchExpressions"]
        assert expressions == wanted["namespaceSelector"]["matchExpressions"]


def test_requests_only_pods_pass_the_limit_range_ratio(
    kube_cluster: KubeCluster, stack: DevStack
) -> None:
    """LimitRanger refuses limit/request above maxLimitRequestRatio after the webhook ran: a
    RequestsOnly VPA recommending far below the kept limit must not leave the Deployment at
    0 pods; the request rises to limit / ratio instead."""
    namespace = stack_namespace(kube_cluster, stack, "tidal-ratio")
    apply(kube_cluster, namespace, {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "ratio"},
        "spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": "4"}}]},
    })  # fmt: skip
    apply(kube_cluster, namespace, vpa("api", "api", controlledValues="RequestsOnly"))
    set_recommendation(kube_cluster, namespace, "api", {"app": {"cpu": "100m", "memory": "64Mi"}})
    api = deployment("api", [container("app", {"cpu": "1", "memory": "64Mi"},
                                       {"cpu": "2", "memory": "128Mi"})], replicas=3)

    def sized() -> bool:
        code, pod = dry_run(kube_cluster, namespace, probe_pod(api))
        return code == 0 and "vpaUpdates" in (pod["metadata"].get("annotations") or {})

    wait_for_webhook(sized, "the webhook to size probe pods in tidal-ratio")
    apply(kube_cluster, namespace, api)

    def created() -> list[dict[str, Any]]:
        items = kube_cluster.get_json("pods", "-n", namespace, "-l", "app=api")["items"]
        return items if len(items) == 3 else []

    for pod in wait_until(created, timeout=60, what="3 pods of api"):
        resources = pod["spec"]["containers"][0]["resources"]
        assert quantities(resources["requests"]) == quantities({"cpu": "500m", "memory": "64Mi"})
        assert quantities(resources["limits"]) == quantities({"cpu": "2", "memory": "128Mi"})
        assert "maxLimitRequestRatio" in pod["metadata"]["annotations"]["vpaUpdates"]
