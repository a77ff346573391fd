"""``report --format dra``: the emitted ResourceClaimTemplates are accepted by the real API
server (``resource.k8s.io/v1`` is GA in the pinned release), CEL selectors compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.cluster import KubeCluster

pytestmark = pytest.mark.e2e

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
