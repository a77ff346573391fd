"""``--policy`` files read exactly what the cluster would accept: unknown fields, other kinds,
removed API versions and non-objects are errors naming file, document and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recommender.cli import main
from recommender.crd_fields import field_tree, vpa_fields

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "manifests" / "crds" / "verticalpodautoscalers.yaml"
VPA = """apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  resourcePolicy:
    containerPolicies:
      - containerName: "*"
        maxAllowed: {cpu: "2"}
"""


def test_the_packaged_field_list_is_the_crds():
    crd = yaml.safe_load(CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    tree = field_tree(v1["schema"]["openAPIV3Schema"])
    tree["status"] = "*"  # written by the recommender, ignored in a policy file
    assert vpa_fields() == tree, (
        "recommender/vpa_fields.json is stale: regenerate it from the CRD with "
        "recommender.crd_fields.field_tree (status as '*'); expected:\n"
        + json.dumps(tree, indent=1, sort_keys=True))


@pytest.mark.parametrize(("text", "message"), [
    (VPA.replace("maxAllowed", "maxAlowed"),
     'p.yaml: document 1 (VerticalPodAutoscaler web): '
     'spec.resourcePolicy.containerPolicies[0].maxAlowed: unknown field "maxAlowed" '
     '(did you mean "maxAllowed"?)'),
    (VPA.replace("autoscaling.k8s.io/v1", "autoscaling.k8s.io/v1beta2"),
     "apiVersion 'autoscaling.k8s.io/v1beta2': the cluster serves autoscaling.k8s.io/v1"),
    (VPA + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
     "p.yaml: document 2: kind 'Deployment' is not VerticalPodAutoscaler"),
    (VPA + "---\n- just\n- a list\n", "p.yaml: document 2: a list, not an object"),
    ("apiVersion: v1\nkind: List\nitems:\n- " + VPA.replace("\n", "\n  ").replace(
        "targetRef", "tragetRef"),
     'document 1 item 0 (VerticalPodAutoscaler web): spec.tragetRef: unknown field'),
    (VPA + '        oomBumpUpRatio: "0.8"\n',
     'p.yaml: document 1 (VerticalPodAutoscaler web): spec.resourcePolicy.containerPolicies[0]'
     '.oomBumpUpRatio: Invalid value: "0.8": must be greater than or equal to 1.0'),
    (VPA + "        memoryAggregationIntervalCount: 0\n",
     "containerPolicies[0].memoryAggregationIntervalCount: Invalid value: 0: must be greater "
     "than or equal to 1"),
    (VPA + "  updatePolicy: {evictAfterOOMSeconds: -5}\n",
     "(VerticalPodAutoscaler web): spec.updatePolicy.evictAfterOOMSeconds: Invalid value: -5: "
     "must be greater than or equal to 1"),
])
def test_what_the_cluster_would_refuse_is_an_error(tmp_path, capsys, monkeypatch, text,
                                                   message):
    monkeypatch.chdir(tmp_path)
    Path("p.yaml").write_text(text)
    Path("h.csv").write_text("timestamp,namespace,workload,pod,container,resource,value\n"
                             "1790000000,shop,Deployment/web,web-1,app,cpu,0.5\n")
    assert main(["recommend", "--history", "h.csv", "--policy", "p.yaml"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_valid_file_with_status_and_a_trailing_separator_loads(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(VPA + "status: {conditions: []}\n---\n")
    history = tmp_path / "h.csv"
    history.write_text("timestamp,namespace,workload,pod,container,resource,value\n"
                       "1790000000,shop,Deployment/web,web-1,app,cpu,0.5\n")
    assert main(["recommend", "--history", str(history), "--policy", str(path)]) == 0


def test_an_empty_controlled_resources_list_controls_nothing() -> None:
    """As upstream: only an absent ``controlledResources`` means cpu and memory."""
    from recommender.vpa import parse_container_policy

    assert parse_container_policy({"containerName": "*"}).controlled_resources == (
        "cpu", "memory")
    assert parse_container_policy({"containerName": "*",
                                   "controlledResources": []}).controlled_resources == ()
