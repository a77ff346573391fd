"""Current resources from manifests and ``kubectl get -o yaml`` Lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.logic.gpu import product_gpu_model
from recommender.report.manifests import ManifestError, ManifestSource
from tests.report.conftest import WORKLOADS

LIST = """
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db, namespace: data}
    spec:
      replicas: 3
      template:
        spec:
          containers:
            - name: pg
              resources: {limits: {cpu: 500m, memory: 2Gi}}
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      template: {spec: {containers: [{name: agent}]}}
    status: {desiredNumberScheduled: 7}
  - apiVersion: batch/v1
    kind: Job
    metadata: {name: once, namespace: data}
    spec:
      parallelism: 4
      template: {spec: {containers: [{name: work, resources: {requests: {cpu: "1"}}}]}}
  - apiVersion: autoscaling/v1
    kind: HorizontalPodAutoscaler
    metadata: {name: db, namespace: data}
    spec:
      scaleTargetRef: {kind: StatefulSet, name: db}
      maxReplicas: 5
      targetCPUUtilizationPercentage: 60
  - apiVersion: v1
    kind: Service
    metadata: {name: ignored}
"""


def test_demo_workloads_match_the_demo_history() -> None:
    inventory = ManifestSource([WORKLOADS]).load()
    assert sorted(inventory.workloads) == [
        ("batch", "CronJob/nightly-etl"), ("ml", "Deployment/embedder"),
        ("ml", "Deployment/llm-inference"), ("shop", "Deployment/cart"),
        ("shop", "Deployment/web"),
    ]
    web = inventory.workload("shop", "Deployment/web")
    assert web is not None and web.replicas == 3
    assert [c.name for c in web.containers] == ["web", "istio-proxy"]
    llm = inventory.workload("ml", "Deployment/llm-inference")
    assert llm is not None and llm.replicas == 2
    server = llm.container("server")
    assert server is not None and server.request("nvidia.com/gpu") == 4.0  # from the limit
    embedder = inventory.workload("ml", "Deployment/embedder")
    assert embedder is not None and embedder.containers[0].requests["nvidia.com/gpu"] == 1.0
    hpa = inventory.autoscaler("shop", "Deployment/web")
    assert hpa is not None and hpa.resources == ("cpu",)


def test_kubectl_list_output(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(LIST)
    inventory = ManifestSource([path]).load()
    db = inventory.workload("data", "StatefulSet/db")
    assert db is not None and db.replicas == 3
    assert db.containers[0].request("memory") == 2 * 2**30  # request defaults to the limit
    agent = inventory.workload("default", "DaemonSet/agent")
    assert agent is not None and agent.replicas == 7
    job = inventory.workload("data", "Job/once")
    assert job is not None and job.replicas == 4
    hpa = inventory.autoscaler("data", "StatefulSet/db")
    assert hpa is not None and hpa.resources == ("cpu",) and hpa.max_replicas == 5
    assert len(inventory.workloads) == 3


def test_hpa_without_metrics_defaults_to_cpu_and_v2_memory(tmp_path: Path) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text("""
kind: HorizontalPodAutoscaler
metadata: {name: a, namespace: x}
spec: {scaleTargetRef: {kind: Deployment, name: a}, maxReplicas: 3}
---
kind: HorizontalPodAutoscaler
metadata: {name: b, namespace: x}
spec:
  scaleTargetRef: {kind: Deployment, name: b}
  maxReplicas: 3
  metrics:
    - type: ContainerResource
      containerResource: {name: memory, container: app, target: {type: Utilization}}
    - type: External
      external: {metric: {name: queue}}
""")
    inventory = ManifestSource([path]).load()
    assert inventory.autoscalers[("x", "Deployment/a")].resources == ("cpu",)
    assert inventory.autoscalers[("x", "Deployment/b")].resources == ("memory",)


def test_bad_quantity_names_file_and_object(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("""
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {spec: {containers: [{name: web, resources: {requests: {cpu: lots}}}]}}}
""")
    with pytest.raises(ManifestError, match=r"bad.yaml: Deployment shop/web: .*lots"):
        ManifestSource([path]).load()


def test_unreadable_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: [unclosed")
    with pytest.raises(ManifestError, match="broken.yaml: cannot read workloads YAML"):
        ManifestSource([path]).load()


@pytest.mark.parametrize(
    "product, model",
    [
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-PCIE-40GB", "A100-40GB"),
        ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
        ("NVIDIA-L4", "L4"),
        ("NVIDIA-L40S", "L40S"),
        ("Tesla-T4", "T4"),
        ("NVIDIA-GeForce-RTX-4090", None),
    ],
)
def test_match_gpu_model(product: str, model: str | None) -> None:
    found = product_gpu_model(product)
    assert (found.name if found else None) == model


def test_the_demo_examples_pass_tidals_own_webhook() -> None:
    """The README's examples must be objects a cluster with Tidal accepts: no VPA that the
    validating webhook would refuse beside the demo's HPA (an active VPA on its cpu was)."""
    from pathlib import Path

    import yaml

    from recommender.vpa import parse_vpa
    from webhook.conflicts import hpa_conflict, template_of, vpa_conflict
    from webhook.hpa import parse_hpa
    from webhook.state import ClusterState

    root = Path(__file__).resolve().parents[2] / "examples"
    docs = [d for f in ("demo-vpas.yaml", "demo-workloads.yaml")
            for d in yaml.safe_load_all((root / f).read_text()) if d]
    vpas = [parse_vpa(d) for d in docs if d["kind"] == "VerticalPodAutoscaler"]
    hpas = [parse_hpa(d) for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert vpas and hpas
    state = ClusterState.from_objects(docs)
    for hpa in hpas:  # decided from the demo's own pod templates
        template = template_of(state, hpa.namespace, hpa.target_kind, hpa.target_name)
        assert template.containers, hpa
        assert hpa_conflict(hpa, vpas, template) is None
        assert [vpa_conflict(v, [hpa], template) for v in vpas] == [None] * len(vpas)
