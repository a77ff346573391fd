"""GPU claims at creation: opted-in pods get their DRA claim template instead of nvidia.com/gpu."""

from __future__ import annotations

from typing import Any

from webhook.admission import PATCHES
from webhook.state import ClusterState

from . import builders as b
from .helpers import mutate, resources

RS = b.replica_set()
GPU = "nvidia.com/gpu"
CLAIMS = "tidal.dev/gpu-claims"


def gpu_pod(**kw: Any) -> dict:
    return b.pod(b.container(requests={"cpu": "1", "memory": "1Gi", GPU: "1"},
                             limits={"memory": "1Gi", GPU: "1"}), **kw)


def gpu_vpa(annotation: str | None = None) -> dict:
    obj = b.vpa(recommendations=[b.rec(target={"cpu": "2", "memory": "2Gi", GPU: "1"})])
    if annotation is not None:
        obj["metadata"]["annotations"] = {CLAIMS: annotation}
    return obj


def namespace(label: str | None = None) -> dict:
    labels = {CLAIMS: label} if label is not None else {}
    return {"kind": "Namespace", "metadata": {"name": "default", "labels": labels}}


def template(name: str) -> dict:
    return {"kind": "ResourceClaimTemplate", "metadata": {"name": name, "namespace": "default"}}


def test_an_opted_in_vpa_swaps_the_gpus_for_its_claim_template() -> None:
    verdict, patched, patch = mutate(gpu_pod(), [RS, namespace(), template("web-app-gpu"),
                                                 gpu_vpa("gpu")])
    assert verdict.decision == "patched"
    assert patched["spec"]["resourceClaims"] == [
        {"name": "gpu-app", "resourceClaimTemplateName": "web-app-gpu"}]
    res = resources(patched)
    assert res == {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "2Gi"},
                   "claims": [{"name": "gpu-app"}]}  # cpu and memory still sized
    annotations = patched["metadata"]["annotations"]
    assert annotations[CLAIMS] == "app: GPUs from ResourceClaimTemplate web-app-gpu"
    assert "nvidia.com/gpu" not in annotations["vpaUpdates"]
    # The extended resource leaves by replacing the maps it was in; nothing else is removed.
    assert {"op": "replace", "path": "/spec/containers/0/resources/requests",
            "value": {"cpu": "2", "memory": "2Gi"}} in patch
    # Admitted again (a re-created pod from the same spec): nothing more to do.
    _, again, second = mutate(patched, [RS, namespace(), template("web-app-gpu"), gpu_vpa("gpu")])
    assert again["spec"]["resourceClaims"] == patched["spec"]["resourceClaims"]
    assert resources(again)["claims"] == [{"name": "gpu-app"}]
    assert not [op for op in second if op["path"].startswith("/spec")]


def test_a_namespace_label_opts_in_and_shared_picks_the_shared_template() -> None:
    _, patched, _ = mutate(gpu_pod(), [RS, namespace("shared"), template("web-app-gpu"),
                                       template("web-app-shared"), gpu_vpa()])
    assert patched["spec"]["resourceClaims"] == [
        {"name": "gpu-app", "resourceClaimTemplateName": "web-app-shared"}]
    # The VPA's annotation wins over the namespace's label.
    _, patched, _ = mutate(gpu_pod(), [RS, namespace("shared"), template("web-app-gpu"),
                                       gpu_vpa("gpu")])
    assert patched["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == "web-app-gpu"


def test_without_the_template_the_gpus_stay_whole_with_requests_equal_to_limits() -> None:
    _, patched, _ = mutate(gpu_pod(), [RS, namespace(), gpu_vpa("gpu")])
    assert "resourceClaims" not in patched["spec"]
    res = resources(patched)
    assert res["requests"][GPU] == res["limits"][GPU] == "1"
    assert "claims" not in res
    assert patched["metadata"]["annotations"][CLAIMS] == (
        "app: kept its GPU resources: no ResourceClaimTemplate web-app-gpu in the namespace "
        "(tidal-recommender report --format dra writes it)")


def test_not_opted_in_or_an_invalid_value_keeps_extended_resources() -> None:
    _, plain, _ = mutate(gpu_pod(), [RS, namespace(), template("web-app-gpu"), gpu_vpa()])
    assert "resourceClaims" not in plain["spec"]
    assert CLAIMS not in plain["metadata"]["annotations"]
    _, typo, _ = mutate(gpu_pod(), [RS, namespace(), template("web-app-gpu"), gpu_vpa("GPU")])
    assert "resourceClaims" not in typo["spec"]
    assert typo["metadata"]["annotations"][CLAIMS] == (
        "tidal.dev/gpu-claims='GPU' ignored: use 'gpu' or 'shared'")


def test_existing_claims_are_kept_and_containers_without_gpus_untouched() -> None:
    pod = b.pod(b.container("app", requests={"cpu": "1", GPU: "1"}, limits={GPU: "1"}),
                b.container("sidecar", requests={"cpu": "100m"}))
    pod["spec"]["resourceClaims"] = [{"name": "nic", "resourceClaimName": "rdma"}]
    vpa = gpu_vpa("gpu")
    vpa["status"]["recommendation"]["containerRecommendations"].append(
        b.rec("sidecar", target={"cpu": "200m"}))
    _, patched, _ = mutate(pod, [RS, namespace(), template("web-app-gpu"), vpa])
    assert patched["spec"]["resourceClaims"] == [
        {"name": "nic", "resourceClaimName": "rdma"},
        {"name": "gpu-app", "resourceClaimTemplateName": "web-app-gpu"}]
    assert "claims" not in resources(patched, 1)
    assert resources(patched, 1)["requests"] == {"cpu": "200m"}


def test_a_template_created_later_reaches_the_next_replica() -> None:
    PATCHES._items.clear()
    state = ClusterState.from_objects([RS, namespace(), gpu_vpa("gpu")])
    _, first, _ = mutate(gpu_pod(), state)
    assert "resourceClaims" not in first["spec"]
    state.upsert("ResourceClaimTemplate", template("web-app-gpu"))
    _, second, _ = mutate(gpu_pod(), state)  # not the memoised patch of the first replica
    assert second["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == "web-app-gpu"
