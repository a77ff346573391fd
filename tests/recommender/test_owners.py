"""The one owner resolver: top-most well-known or scalable controller, API discovery."""

from __future__ import annotations

from recommender.owners import Discovery, Owner, owner_chain, top_target, workload_of

LWS_GROUP = "leaderworkerset.x-k8s.io"
DISCOVERY = Discovery.from_resource_lists([
    {"groupVersion": f"{LWS_GROUP}/v1", "resources": [
        {"name": "leaderworkersets", "kind": "LeaderWorkerSet", "namespaced": True},
        {"name": "leaderworkersets/scale", "kind": "Scale", "group": "autoscaling"},
        {"name": "leaderworkersets/status", "kind": "LeaderWorkerSet"},
    ]},
    {"groupVersion": "argoproj.io/v1alpha1", "resources": [
        {"name": "rollouts", "kind": "Rollout", "namespaced": True},
        {"name": "rollouts/scale", "kind": "Scale"},
        {"name": "analysisruns", "kind": "AnalysisRun", "namespaced": True},
    ]},
    {"groupVersion": "serving.knative.dev/v1", "resources": [
        {"name": "revisions", "kind": "Revision", "namespaced": True},
    ]},
])


def meta(name: str, owner: tuple[str, str, str] | None) -> dict:
    refs = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}] \
        if owner else []
    return {"name": name, "ownerReferences": refs}


def graph(*edges: tuple[str, str, tuple[str, str, str]]):
    """parent_of over (kind, name) -> owner reference edges."""
    parents = {}
    for kind, name, owner in edges:
        parents[(kind, name)] = Owner(owner[1], owner[2], owner[0].rpartition("/")[0])
    return lambda o: parents.get((o.kind, o.name))


def test_discovery_finds_the_kinds_with_scale() -> None:
    assert DISCOVERY.is_target(Owner("LeaderWorkerSet", "x", LWS_GROUP))
    assert DISCOVERY.is_target(Owner("Rollout", "x", "argoproj.io"))
    assert not DISCOVERY.is_target(Owner("AnalysisRun", "x", "argoproj.io"))
    assert not DISCOVERY.is_target(Owner("Rollout", "x", "other.io"))  # the group counts
    assert DISCOVERY.is_target(Owner("Deployment", "x", "apps"))
    assert DISCOVERY.unsupported("Revision", "serving.knative.dev") == (
        "Revision.serving.knative.dev has no /scale subresource: a VPA targets a well-known "
        "controller or a kind that can be scaled")
    assert DISCOVERY.unsupported("Widget", "example.com") == (
        "Widget.example.com is not a kind this cluster serves")
    assert DISCOVERY.unsupported("StatefulSet", "apps") is None
    assert Discovery().unsupported("Widget", "example.com") is None  # not discovered: no verdict


def test_rollout_and_leaderworkerset_pods_belong_to_the_top_most_target() -> None:
    parent_of = graph(
        ("ReplicaSet", "shop-5f6d", ("argoproj.io/v1alpha1", "Rollout", "shop")),
        ("StatefulSet", "llm", (f"{LWS_GROUP}/v1", "LeaderWorkerSet", "llm")),
        ("StatefulSet", "llm-0", ("v1", "Pod", "llm-0")),  # a group's workers: the leader's
        ("Pod", "llm-0", ("apps/v1", "StatefulSet", "llm")),
    )
    shop = meta("shop-5f6d-x", ("apps/v1", "ReplicaSet", "shop-5f6d"))
    assert workload_of(shop, parent_of, DISCOVERY) == "Rollout/shop"
    leader = meta("llm-0", ("apps/v1", "StatefulSet", "llm"))
    worker = meta("llm-0-1", ("apps/v1", "StatefulSet", "llm-0"))
    assert workload_of(leader, parent_of, DISCOVERY) == "LeaderWorkerSet/llm"
    assert workload_of(worker, parent_of, DISCOVERY) == "LeaderWorkerSet/llm"
    # Without discovery the kinds with /scale are unknown: the StatefulSet is the top target.
    assert workload_of(worker, parent_of, Discovery()) == "StatefulSet/llm"


def test_a_kind_without_scale_above_a_deployment_is_not_the_workload() -> None:
    parent_of = graph(
        ("ReplicaSet", "hello-1", ("apps/v1", "Deployment", "hello")),
        ("Deployment", "hello", ("serving.knative.dev/v1", "Revision", "hello-00001")),
    )
    pod = meta("hello-1-x", ("apps/v1", "ReplicaSet", "hello-1"))
    assert workload_of(pod, parent_of, DISCOVERY) == "Deployment/hello"
    # Nothing targetable on the chain: the pod's own controller still groups its pods.
    custom = meta("w-1", ("example.com/v1", "Widget", "w"))
    assert workload_of(custom, graph(), DISCOVERY) == "Widget/w"
    assert workload_of(meta("bare", None), graph(), DISCOVERY) == "Pod/bare"


def test_cycles_and_depth_are_bounded() -> None:
    parent_of = graph(("ReplicaSet", "a", ("apps/v1", "ReplicaSet", "b")),
                      ("ReplicaSet", "b", ("apps/v1", "ReplicaSet", "a")))
    chain = owner_chain(Owner("ReplicaSet", "a", "apps"), parent_of)
    assert [o.name for o in chain] == ["a", "b"]
    assert top_target(chain, DISCOVERY) == Owner("ReplicaSet", "b", "apps")
