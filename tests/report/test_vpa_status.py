"""``--from-vpa-status``: a report from what VPA status already says, without history."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from recommender.cli import main
from recommender.report.formats.json_doc import schema
from tests.report.conftest import WORKLOADS

VPAS = """
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
status:
  recommendation:
    containerRecommendations:
      - containerName: web
        target: {cpu: 500m, memory: 600Mi}
        lowerBound: {cpu: 300m, memory: 500Mi}
        upperBound: {cpu: "1", memory: 800Mi}
---
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: cart, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: cart}
status:
  recommendation:
    containerRecommendations:
      - containerName: cart
        target: {cpu: 150m, memory: 1500Mi}
        uncappedTarget: {cpu: 150m, memory: 1500Mi}
"""


def test_report_from_vpa_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vpas = tmp_path / "vpas.yaml"
    vpas.write_text(VPAS)
    code = main(["report", "--workloads", str(WORKLOADS), "--policy", str(vpas),
                 "--from-vpa-status", "--format", "json", "--generated-at",
                 "2026-11-01T00:00:00Z", "--store", str(tmp_path / "absent.db")])
    assert code == 0  # no history needed
    doc = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator(schema()).validate(doc)
    assert doc["source"] == "VerticalPodAutoscaler status"
    by = {(c["name"], c["container"]): c for c in doc["containers"]}
    web = by[("web", "web")]
    cpu, memory = web["resources"]
    assert (cpu["request"], cpu["target"], cpu["lowerBound"]) == (1.0, 0.5, 0.3)
    assert memory["target"] == 600 * 2**20 and memory["usage"] is None
    assert web["status"] == "over" and web["hasVpa"]
    assert [f["code"] for f in web["flags"]] == ["hpa-cpu"]  # no history flags without history
    cart = by[("cart", "cart")]
    assert cart["status"] == "under"
    etl = by[("nightly-etl", "etl")]
    assert etl["status"] == "no-recommendation" and not etl["hasVpa"]
