"""Replicas of a template share one sizing, and no change of the cluster is missed."""

from __future__ import annotations

from webhook.memo import PatchMemo, pod_patch
from webhook.state import ClusterState

from . import builders as b

RS = b.replica_set()
CPU_REQUEST = "/spec/containers/0/resources/requests/cpu"


def replica(name: str, cpu: str = "100m") -> dict:
    return b.pod(b.container(requests={"cpu": cpu, "memory": "128Mi"}), name=name)


def test_replicas_of_a_template_are_sized_once_with_the_same_patch() -> None:
    state = ClusterState.from_objects([RS, b.vpa(recommendations=[b.rec()])])
    memo = PatchMemo()
    first = memo.pod_patch(replica("web-1"), "default", state)
    second = memo.pod_patch(replica("web-2"), "default", state)
    assert first.patch and second.patch == first.patch
    assert (memo.hits, memo.misses) == (1, 1)
    assert second.patch == pod_patch(replica("web-2"), "default", state).patch


def test_a_new_recommendation_is_used_at_once() -> None:
    state = ClusterState.from_objects([RS, b.vpa(recommendations=[b.rec()])])
    memo = PatchMemo()
    before = memo.pod_patch(replica("web-1"), "default", state)
    state.upsert("VerticalPodAutoscaler", b.vpa(recommendations=[b.rec(target={"cpu": "2"})]))
    after = memo.pod_patch(replica("web-2"), "default", state)
    assert after.patch != before.patch
    assert {"op": "replace", "path": CPU_REQUEST, "value": "2"} in after.patch
    assert memo.hits == 0


def test_a_new_limit_range_is_used_at_once() -> None:
    state = ClusterState.from_objects([RS, b.vpa(recommendations=[b.rec()])])
    memo = PatchMemo()
    memo.pod_patch(replica("web-1"), "default", state)
    state.upsert("LimitRange", b.limit_range({"type": "Container", "max": {"cpu": "200m"}}))
    capped = memo.pod_patch(replica("web-2"), "default", state)
    assert {"op": "replace", "path": CPU_REQUEST, "value": "200m"} in capped.patch
    assert memo.hits == 0


def test_pods_with_other_resources_or_annotations_are_sized_for_themselves() -> None:
    state = ClusterState.from_objects([RS, b.vpa(recommendations=[b.rec()])])
    memo = PatchMemo()
    memo.pod_patch(replica("web-1", cpu="100m"), "default", state)
    already = memo.pod_patch(replica("web-2", cpu="250m"), "default", state)
    annotated = replica("web-3")
    annotated["metadata"]["annotations"] = {"team": "search"}
    with_notes = memo.pod_patch(annotated, "default", state)
    assert memo.hits == 0
    assert not any(op["path"].endswith("/requests/cpu") for op in already.patch)
    assert with_notes.patch[0]["path"].startswith("/metadata/annotations/")


def test_the_memo_is_bounded_and_forgets_the_least_recently_used() -> None:
    state = ClusterState.from_objects([RS, b.vpa(recommendations=[b.rec()])])
    memo = PatchMemo(capacity=2)
    for cpu in ("100m", "110m", "120m"):
        memo.pod_patch(replica("x", cpu=cpu), "default", state)
    memo.pod_patch(replica("x", cpu="120m"), "default", state)
    assert memo.hits == 1
    memo.pod_patch(replica("x", cpu="100m"), "default", state)
    assert (memo.hits, memo.misses) == (1, 4)


def test_pods_without_a_vpa_are_not_remembered() -> None:
    state = ClusterState.from_objects([RS])
    memo = PatchMemo()
    for name in ("a", "b"):
        assert memo.pod_patch(replica(name), "default", state).patch == []
    assert (memo.hits, memo.misses) == (0, 0)
