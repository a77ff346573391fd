"""``report --from-cluster`` against a real kube-apiserver (tests/e2e's control plane)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from recommender.cli import main
from recommender.input.csv_history import write_history
from recommender.input.demo import generate
from tests.e2e.cluster import KubeCluster
from tests.e2e.conftest import kube_cluster, kube_namespace  # noqa: F401  (fixtures)
from tests.report.conftest import STRATEGY, WORKLOADS

pytestmark = pytest.mark.e2e


def test_report_reads_live_workloads(
    kube_cluster: KubeCluster,  # noqa: F811
    kube_namespace: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The demo's shop namespace (web + sidecar, its HPA, cart), moved into the test namespace.
    docs = [d for d in yaml.safe_load_all(WORKLOADS.read_text())
            if d and d["metadata"]["namespace"] == "shop"]
    for doc in docs:
        doc["metadata"]["namespace"] = kube_namespace
    proc = kube_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    assert proc.returncode == 0, proc.stderr
    samples = generate(days=2, seed=7)
    samples = samples.select(samples.namespace == "shop")
    samples.namespace[:] = kube_namespace
    history = tmp_path / "history.csv"
    with open(history, "w", encoding="utf-8", newline="") as out:
        write_history(samples, out)

    code = main(["report", "--history", str(history), "--from-cluster",
                 "--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", kube_namespace,
                 "--format", "json", "--strategy", STRATEGY,
                 "--generated-at", "2026-11-01T00:00:00Z"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    by_name = {(c["name"], c["container"]): c for c in doc["containers"]}
    assert set(by_name) == {("web", "web"), ("web", "istio-proxy"), ("cart", "cart")}
    web = by_name[("web", "web")]
    assert web["replicas"] == 3 and web["status"] == "over"
    cpu = web["resources"][0]
    assert cpu["resource"] == "cpu" and cpu["request"] == 1.0 and cpu["limit"] == 2.0
    assert "hpa-cpu" in [f["code"] for f in web["flags"]]  # the live HPA
    cart = by_name[("cart", "cart")]
    assert cart["status"] == "under" and cart["replicas"] == 2
    assert np.isclose(cart["resources"][1]["limit"], 2**30)
