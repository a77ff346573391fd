"""The VPA CRDs: structural, status subresource, and accepting upstream-shaped objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from recommender import vpa
from tests.manifests.conftest import REPO, find, of_kind, render

VPA_CRD = "verticalpodautoscalers.autoscaling.k8s.io"
CHECKPOINT_CRD = "verticalpodautoscalercheckpoints.autoscaling.k8s.io"


def _version(crd: dict) -> dict:
    [version] = crd["spec"]["versions"]
    return version


def _strict_json_schema(node: Any) -> Any:
    """Turn a CRD's OpenAPI schema into a JSON schema that fails where the apiserver would
    prune: an object with declared properties gets ``additionalProperties: false`` unless it
    preserves unknown fields. ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [_strict_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    if (
        node.get("type") == "object"
        and "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _validator(name: str) -> jsonschema.Validator:
    crd = find(render("base"), "CustomResourceDefinition", name)
    schema = _strict_json_schema(_version(crd)["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _errors(name: str, obj: dict) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in _validator(name).iter_errors(obj)]


FULL_VPA = yaml.safe_load(
    """
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  recommenders: [{name: tidal}]
  updatePolicy:
    updateMode: InPlaceOrRecreate
    minReplicas: 2
    evictAfterOOMSeconds: 60
    evictionRequirements:
      - {resources: [cpu], changeRequirement: TargetHigherThanRequests}
  startupBoost: {cpu: {type: Factor, factor: 2, durationSeconds: 30}}
  resourcePolicy:
    containerPolicies:
      - containerName: web
        mode: Auto
        minAllowed: {cpu: 100m, memory: 256Mi}
        maxAllowed: {cpu: 2, memory: 2Gi}
        controlledResources: [cpu, memory]
        controlledValues: RequestsOnly
        oomBumpUpRatio: "1.5"
        oomMinBumpUp: 100Mi
        memoryAggregationIntervalSeconds: 3600
        memoryAggregationIntervalCount: 24
        targetCPUPercentile: "0.95"
        targetMemoryPercentile: "0.9"
        startupBoost: {cpu: {type: Quantity, quantity: "2"}}
      - {containerName: "*", mode: "Off"}
status:
  observedGeneration: 3
  recommendation:
    containerRecommendations:
      - containerName: web
        target: {cpu: 250m, memory: "262144k"}
        lowerBound: {cpu: 25m, memory: "262144k"}
        upperBound: {cpu: "1", memory: 1Gi}
        uncappedTarget: {cpu: 250m, memory: "262144k"}
  conditions:
    - type: RecommendationProvided
      status: "True"
      lastTransitionTime: "2026-11-28T10:00:00Z"
      reason: ""
      message: ""
      observedGeneration: 3
"""
)

CHECKPOINT = yaml.safe_load(
    """
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscalerCheckpoint
metadata: {name: web-web, namespace: shop}
spec: {vpaObjectName: web, containerName: web}
status:
  lastUpdateTime: "2026-11-28T10:00:00Z"
  version: v3
  cpuHistogram:
    referenceTimestamp: "2026-11-28T00:00:00Z"
    bucketWeights: {"3": 10000, "17": 412}
    totalWeight: 12.5
  memoryHistogram:
    referenceTimestamp: "2026-11-29T00:00:00Z"
    bucketWeights: {"40": 10000}
    totalWeight: 3.0
  firstSampleStart: "2026-11-20T10:00:00Z"
  lastSampleStart: null
  totalSamplesCount: 11520
"""
)


def test_crds_are_served_v1_with_a_status_subresource() -> None:
    objs = render("base")
    for name, kind, short in [
        (VPA_CRD, "VerticalPodAutoscaler", "vpa"),
        (CHECKPOINT_CRD, "VerticalPodAutoscalerCheckpoint", "vpacheckpoint"),
    ]:
        crd = find(objs, "CustomResourceDefinition", name)
        spec = crd["spec"]
        assert spec["group"] == "autoscaling.k8s.io" and spec["scope"] == "Namespaced"
        assert spec["names"]["kind"] == kind and spec["names"]["shortNames"] == [short]
        version = _version(crd)
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        # Groups under k8s.io are rejected by the apiserver without this annotation.
        assert crd["metadata"]["annotations"]["api-approved.kubernetes.io"].startswith("https://")
    assert _version(find(objs, "CustomResourceDefinition", VPA_CRD))["subresources"] == {
        "status": {}
    }


def _walk(node: dict, path: str = "") -> list[str]:
    """Structural-schema violations: every node needs a type (int-or-string excepted)."""
    bad = []
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        bad.append(path or "/")
    for key, child in node.get("properties", {}).items():
        bad += _walk(child, f"{path}/{key}")
    if isinstance(node.get("items"), dict):
        bad += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        bad += _walk(node["additionalProperties"], f"{path}{{}}")
    return bad


@pytest.mark.parametrize("name", [VPA_CRD, CHECKPOINT_CRD])
def test_schemas_are_structural(name: str) -> None:
    crd = find(render("base"), "CustomResourceDefinition", name)
    assert _walk(_version(crd)["schema"]["openAPIV3Schema"]) == []


def test_a_vpa_using_every_upstream_field_is_kept_whole() -> None:
    assert _errors(VPA_CRD, FULL_VPA) == []


def test_repository_example_vpas_are_accepted() -> None:
    docs = [d for d in yaml.safe_load_all(Path(REPO, "examples/demo-vpas.yaml").read_text()) if d]
    assert docs
    for doc in docs:
        assert _errors(VPA_CRD, doc) == [], doc["metadata"]["name"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "updatePolicy", "updateMode"), "Sometimes"),
        (("spec", "resourcePolicy", "containerPolicies", 0, "controlledValues"), "Limits"),
        (("spec", "resourcePolicy", "containerPolicies", 0, "minAllowed", "cpu"), "lots"),
        (("spec", "updatePolicy", "unknownField"), 1),
        (("status", "recommendation", "containerRecommendations", 0, "target"), None),
    ],
)
def test_invalid_or_unknown_fields_are_rejected(path: tuple, value: Any) -> None:
    obj = copy.deepcopy(FULL_VPA)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    assert _errors(VPA_CRD, obj) != []


def test_target_ref_and_spec_are_required() -> None:
    assert _errors(VPA_CRD, {"apiVersion": "autoscaling.k8s.io/v1", "kind": "X"}) != []
    assert _errors(VPA_CRD, {"spec": {"updatePolicy": {"updateMode": "Off"}}}) != []


def test_enums_match_the_api_types_tidal_parses() -> None:
    schema = _version(find(render("base"), "CustomResourceDefinition", VPA_CRD))["schema"]
    spec = schema["openAPIV3Schema"]["properties"]["spec"]["properties"]
    policy = spec["resourcePolicy"]["properties"]["containerPolicies"]["items"]["properties"]
    assert tuple(spec["updatePolicy"]["properties"]["updateMode"]["enum"]) == vpa.UPDATE_MODES
    assert tuple(policy["mode"]["enum"]) == vpa.CONTAINER_MODES
    assert tuple(policy["controlledValues"]["enum"]) == vpa.CONTROLLED_VALUES


def test_checkpoint_in_upstream_format_is_kept_whole() -> None:
    assert _errors(CHECKPOINT_CRD, CHECKPOINT) == []
    bad = copy.deepcopy(CHECKPOINT)
    bad["status"]["totalSamplesCount"] = "many"
    assert _errors(CHECKPOINT_CRD, bad) != []


def test_no_crds_overlay_has_everything_but_the_crds() -> None:
    base, no_crds = render("base"), render("no-crds")
    assert len(of_kind(base, "CustomResourceDefinition")) == 2
    assert of_kind(no_crds, "CustomResourceDefinition") == []
    rest = [o for o in base if o["kind"] != "CustomResourceDefinition"]
    assert sorted(map(repr, rest)) == sorted(map(repr, no_crds))
