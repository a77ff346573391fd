"""DRA on the real control plane (``resource.k8s.io/v1`` is GA in the pinned release): the
ResourceClaimTemplates ``report --format dra`` emits are accepted (CEL selectors compiled), and
the webhook gives pods of an opted-in namespace their claim at creation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from recommender.dra import GPU_CLAIMS
from recommender.logic.gpu import GPU_MODELS
from recommender.report.formats.dra import claim_templates
from recommender.report.model import GpuReport
from scripts.dev import DevStack
from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.tidal_stack import (
    apply,
    container,
    deployment,
    dry_run,
    probe_pod,
    set_recommendation,
    stack_namespace,
    vpa,
    wait_for_webhook,
    webhook_stack,
)

pytestmark = pytest.mark.e2e

GPU = "nvidia.com/gpu"
GOLDEN = Path(__file__).resolve().parents[1] / "report" / "golden" / "demo.dra.yaml"


def test_emitted_claim_templates_pass_a_server_side_dry_run(kube_cluster: KubeCluster,
                                                          kube_namespace: str) -> None:
    objects = [o for o in yaml.safe_load_all(GOLDEN.read_text()) if o]
    kinds = {(o["kind"], o["spec"]["spec"]["devices"]["requests"][0]["exactly"][
        "deviceClassName"]) for o in objects}
    # The demo has a MIG-sized GPU, whole GPUs, and shared ones (with MPS config).
    assert kinds == {("ResourceClaimTemplate", "mig.nvidia.com"),
                     ("ResourceClaimTemplate", "gpu.nvidia.com")}
    assert any("config" in o["spec"]["spec"]["devices"] for o in objects)
    for obj in objects:
        obj["metadata"]["namespace"] = kube_namespace
    text = "---\n".join(yaml.safe_dump(o) for o in objects)
    proc = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("created (server dry run)") == len(objects)
    # A broken selector would have been refused: the server compiles the CEL.
    broken = dict(objects[0])
    broken["spec"] = {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
        "deviceClassName": "gpu.nvidia.com", "selectors": [{"cel": {
            "expression": "device.capacity['gpu.nvidia.com'].memory >"}}]}}]}}}
    proc = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-",
                                input=yaml.safe_dump(broken))
    assert proc.returncode != 0 and "compil" in proc.stderr.lower()


# --------------------------------------------------------------------------- the webhook


@pytest.fixture(scope="module")
def stack(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[DevStack]:
    with webhook_stack(kube_cluster, tmp_path_factory.mktemp("tidal-dra")) as running:
        yield running


def test_an_opted_in_namespace_gets_pods_with_the_claim(kube_cluster: KubeCluster,
                                                        stack: DevStack) -> None:
    namespace = stack_namespace(kube_cluster, stack, "tidal-dra")
    proc = kube_cluster.kubectl("label", "namespace", namespace, f"{GPU_CLAIMS}=gpu")
    assert proc.returncode == 0, proc.stderr
    # The templates as `report --format dra` writes them (a 3g.40gb slice fits 30 GB).
    report = GpuReport(namespace, "Deployment/llm", "server", 2, "A100-80GB", {GPU: 1}, 1.0,
                       None, None, None, None, None, {}, [], estimate=(0.2, 30e9))
    apply(kube_cluster, namespace, *claim_templates(report, GPU_MODELS["A100-80GB"]))
    gpu = {"cpu": "1", "memory": "1Gi", GPU: "1"}
    llm = deployment("llm", [container("server", gpu, {"memory": "1Gi", GPU: "1"})])
    trainer = deployment("trainer", [container("trainer", gpu, {"memory": "1Gi", GPU: "1"})],
                         replicas=1)  # no template for it: keeps its GPU
    for name in ("trainer", "llm"):
        apply(kube_cluster, namespace, vpa(name, name))
        set_recommendation(kube_cluster, namespace, name,
                           {"server" if name == "llm" else "trainer":
                            {"cpu": "2", "memory": "2Gi", GPU: "1"}})

    def claimed() -> bool:
        code, pod = dry_run(kube_cluster, namespace, probe_pod(llm))
        return code == 0 and bool(pod["spec"].get("resourceClaims"))

    wait_for_webhook(claimed, "the webhook to inject the claim into a probe pod")
    apply(kube_cluster, namespace, llm, trainer)

    def pods(app: str, count: int) -> list[dict[str, Any]]:
        items = kube_cluster.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
        return items if len(items) == count else []

    for pod in wait_until(lambda: pods("llm", 2), timeout=60, what="2 pods of llm"):
        assert pod["spec"]["resourceClaims"] == [
            {"name": "gpu-server", "resourceClaimTemplateName": "llm-server-gpu"}]
        resources = pod["spec"]["containers"][0]["resources"]
        assert resources["claims"] == [{"name": "gpu-server"}]
        assert GPU not in resources["requests"] and GPU not in resources["limits"]
        assert resources["requests"]["cpu"] == "2"  # still sized by the VPA
    # kube-controller-manager's resource-claim controller made each pod its claim.
    claims = wait_until(lambda: [c for c in kube_cluster.get_json(
        "resourceclaims", "-n", namespace)["items"]] or None, timeout=60,
        what="ResourceClaims generated from the template")
    assert {c["metadata"]["ownerReferences"][0]["kind"] for c in claims} == {"Pod"}
    assert {c["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"]
            for c in claims} == {"mig.nvidia.com"}
    # Without its template, the trainer keeps its GPU, requests == limits, and says why.
    (pod,) = wait_until(lambda: pods("trainer", 1), timeout=60, what="the trainer pod")
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"][GPU] == resources["limits"][GPU] == "1"
    assert "resourceClaims" not in pod["spec"]
    assert "no ResourceClaimTemplate trainer-trainer-gpu" in pod["metadata"]["annotations"][
        GPU_CLAIMS]
