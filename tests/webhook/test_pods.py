"""Pod mutation: requests from the VPA target, limits, caps, GPUs, idempotency."""

from __future__ import annotations

import pytest

from webhook.state import ClusterState

from . import builders as b
from .helpers import mutate, resources, run

RS = b.replica_set()


def world(*objects: dict) -> list[dict]:
    return [RS, *objects]


def test_requests_set_and_limits_scaled_proportionally() -> None:
    pod = b.pod(
        b.container(
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "200m", "memory": "256Mi"}
        )
    )
    vpa = b.vpa(recommendations=[b.rec(target={"cpu": "250m", "memory": "256Mi"})])
    verdict, patched, patch = mutate(pod, world(vpa))
    assert verdict.decision == "patched"
    assert resources(patched) == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    notes = patched["metadata"]["annotations"]
    assert notes["vpaUpdates"] == (
        "Pod resources updated by web-vpa: container 0: "
        "cpu request, memory request, cpu limit, memory limit"
    )
    assert notes["vpaObservedContainers"] == "app"
    # Only what changed is touched: the rest of the pod is identical.
    assert {op["path"] for op in patch} == {
        "/metadata/annotations",
        "/spec/containers/0/resources/requests/cpu",
        "/spec/containers/0/resources/requests/memory",
        "/spec/containers/0/resources/limits/cpu",
        "/spec/containers/0/resources/limits/memory",
    }


def test_missing_resources_objects_are_added_first() -> None:
    pod = b.pod({"name": "app", "image": "x"})
    vpa = b.vpa(recommendations=[b.rec()])
    _, patched, patch = mutate(pod, world(vpa))
    assert resources(patched) == {"requests": {"cpu": "250m", "memory": "256Mi"}}
    assert [op["path"] for op in patch] == ["/metadata/annotations", "/spec/containers/0/resources"]


def test_readmitting_the_mutated_pod_gives_an_empty_patch() -> None:
    pod = b.pod(
        b.container(
            "app",
            requests={"cpu": "100m", "memory": "100Mi"},
            limits={"cpu": "300m", "memory": "1Gi"},
        ),
        b.container("sidecar", requests={"cpu": "10m"}),
    )
    vpa = b.vpa(
        recommendations=[
            b.rec("app", {"cpu": "333m", "memory": "300Mi"}),
            b.rec("sidecar", {"cpu": "7m"}),
        ],
        policies=[{"containerName": "*", "maxAllowed": {"cpu": "300m"}}],
    )
    _, once, first = mutate(pod, world(vpa))
    assert first
    verdict, twice, second = mutate(once, world(vpa))
    assert second == [] and twice == once
    assert verdict.decision == "unchanged"
    assert "patch" not in verdict.response["response"]


def test_dry_run_returns_the_same_patch() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}))
    vpa = b.vpa(recommendations=[b.rec()])
    _, _, real = mutate(pod, world(vpa))
    verdict, _, dry = mutate(pod, world(vpa), dry_run=True)
    assert dry == real and verdict.dry_run


def test_mirror_pods_are_never_mutated() -> None:
    pod = b.pod(annotations={"kubernetes.io/config.mirror": "abc"}, owner=("Node", "node-1"))
    vpa = b.vpa(target=("Node", "node-1"), recommendations=[b.rec()])
    verdict, patched, patch = mutate(pod, world(vpa))
    assert patch == [] and patched == pod


def test_policy_caps_are_noted_in_the_annotation() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "100Mi"}))
    vpa = b.vpa(
        recommendations=[b.rec(target={"cpu": "4", "memory": "10Mi"})],
        policies=[
            {"containerName": "app", "minAllowed": {"memory": "64Mi"}, "maxAllowed": {"cpu": "1"}}
        ],
    )
    _, patched, _ = mutate(pod, world(vpa))
    assert resources(patched)["requests"] == {"cpu": "1", "memory": "64Mi"}
    assert patched["metadata"]["annotations"]["vpaUpdates"].endswith(
        "container 0: cpu request, memory request, "
        "cpu capped to maxAllowed, memory capped to minAllowed"
    )


def test_container_limit_range_caps_and_keeps_the_ratio() -> None:
    pod = b.pod(
        b.container(
            requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
        )
    )
    vpa = b.vpa(recommendations=[b.rec(target={"cpu": "800m", "memory": "16Mi"})])
    lr = b.limit_range({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "32Mi"}})
    _, patched, _ = mutate(pod, world(vpa, lr))
    # cpu: 800m -> limit 1600m over max 1: both scaled to fit, limit = max, ratio kept.
    # memory: 16Mi below min 32Mi: raised, limit keeps the 2x ratio.
    assert resources(patched) == {
        "requests": {"cpu": "500m", "memory": "32Mi"},
        "limits": {"cpu": "1", "memory": "64Mi"},
    }
    text = patched["metadata"]["annotations"]["vpaUpdates"]
    assert "cpu capped to LimitRange max" in text and "memory capped to LimitRange min" in text


def test_pod_limit_range_scales_containers_proportionally() -> None:
    pod = b.pod(
        b.container("a", requests={"cpu": "100m"}, limits={"cpu": "100m"}),
        b.container("b", requests={"cpu": "100m"}, limits={"cpu": "100m"}),
    )
    vpa = b.vpa(recommendations=[b.rec("a", {"cpu": "600m"}), b.rec("b", {"cpu": "900m"})])
    lr = b.limit_range({"type": "Pod", "max": {"cpu": "1"}})
    _, patched, _ = mutate(pod, world(vpa, lr))
    assert resources(patched, 0) == {"requests": {"cpu": "400m"}, "limits": {"cpu": "400m"}}
    assert resources(patched, 1) == {"requests": {"cpu": "600m"}, "limits": {"cpu": "600m"}}
    _, again, patch = mutate(patched, world(vpa, lr))
    assert patch == []


def test_requests_only_leaves_limits_and_never_exceeds_them() -> None:
    pod = b.pod(
        b.container(
            requests={"cpu": "100m", "memory": "100Mi"}, limits={"cpu": "200m", "memory": "1Gi"}
        )
    )
    vpa = b.vpa(
        recommendations=[b.rec(target={"cpu": "500m", "memory": "300Mi"})],
        policies=[{"containerName": "*", "controlledValues": "RequestsOnly"}],
    )
    _, patched, _ = mutate(pod, world(vpa))
    assert resources(patched) == {
        "requests": {"cpu": "200m", "memory": "300Mi"},
        "limits": {"cpu": "200m", "memory": "1Gi"},
    }
    assert "cpu capped to container limit" in patched["metadata"]["annotations"]["vpaUpdates"]


def test_requests_only_meets_the_limit_range_ratio() -> None:
    """LimitRanger refuses limit / request above maxLimitRequestRatio: with limits kept, the
    request rises to limit / ratio instead of following the recommendation below it."""
    pod = b.pod(b.container(requests={"cpu": "1", "memory": "1Gi"},
                            limits={"cpu": "2", "memory": "2Gi"}))
    vpa = b.vpa(
        recommendations=[b.rec(target={"cpu": "250m", "memory": "256Mi"})],
        policies=[{"containerName": "*", "controlledValues": "RequestsOnly"}],
    )
    lr = b.limit_range({"type": "Container", "maxLimitRequestRatio": {"cpu": "4", "memory": "3"}})
    _, patched, _ = mutate(pod, world(vpa, lr))
    assert resources(patched) == {
        "requests": {"cpu": "500m", "memory": "715827883"},  # 2Gi / 3, rounded up
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    notes = patched["metadata"]["annotations"]["vpaUpdates"]
    assert "cpu request raised to LimitRange maxLimitRequestRatio" in notes
    # Without the LimitRange the recommendation itself is applied.
    _, plain, _ = mutate(pod, world(vpa))
    assert resources(plain)["requests"] == {"cpu": "250m", "memory": "256Mi"}


def test_proportional_limits_keep_within_the_ratio_after_a_max_cap() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}, limits={"cpu": "400m"}))
    vpa = b.vpa(recommendations=[b.rec(target={"cpu": "300m"})])
    lr = b.limit_range({"type": "Container", "max": {"cpu": "1"},
                        "maxLimitRequestRatio": {"cpu": "4"}})
    _, patched, _ = mutate(pod, world(vpa, lr))
    res = resources(patched)
    from recommender.quantity import parse_quantity

    ratio = parse_quantity(res["limits"]["cpu"]) / parse_quantity(res["requests"]["cpu"])
    assert ratio <= 4.0 and parse_quantity(res["limits"]["cpu"]) <= 1.0


def test_gpu_whole_numbers_and_requests_equal_limits() -> None:
    pod = b.pod(
        b.container(requests={"cpu": "1", "nvidia.com/gpu": "1"}, limits={"nvidia.com/gpu": "1"})
    )
    vpa = b.vpa(
        recommendations=[
            b.rec(target={"cpu": "1", "nvidia.com/gpu": "1.4", "nvidia.com/mig-1g.10gb": "0.3"})
        ],
        policies=[{"containerName": "*", "controlledResources": ["cpu", "nvidia.com/gpu"]}],
    )
    _, patched, _ = mutate(pod, world(vpa))
    res = resources(patched)
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "2"
    assert (
        res["requests"]["nvidia.com/mig-1g.10gb"] == res["limits"]["nvidia.com/mig-1g.10gb"] == "1"
    )
    assert "memory" not in res["requests"]


def test_gpu_requests_only_keeps_requests_equal_to_limits() -> None:
    pod = b.pod(b.container(requests={"nvidia.com/gpu": "2"}, limits={"nvidia.com/gpu": "2"}))
    vpa = b.vpa(
        recommendations=[b.rec(target={"nvidia.com/gpu": "3"})],
        policies=[
            {
                "containerName": "*",
                "controlledResources": ["nvidia.com/gpu"],
                "controlledValues": "RequestsOnly",
            }
        ],
    )
    _, patched, patch = mutate(pod, world(vpa))
    res = resources(patched)
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "2"


def test_controlled_resources_and_container_mode_off() -> None:
    pod = b.pod(
        b.container("app", requests={"cpu": "100m", "memory": "100Mi"}),
        b.container("proxy", requests={"cpu": "50m"}),
    )
    vpa = b.vpa(
        recommendations=[b.rec("app"), b.rec("proxy", {"cpu": "20m"})],
        policies=[
            {"containerName": "app", "controlledResources": ["memory"]},
            {"containerName": "proxy", "mode": "Off"},
        ],
    )
    _, patched, _ = mutate(pod, world(vpa))
    assert resources(patched, 0)["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert resources(patched, 1)["requests"] == {"cpu": "50m"}
    assert patched["metadata"]["annotations"]["vpaObservedContainers"] == "app, proxy"


def test_init_containers_are_not_touched() -> None:
    init = b.container("init", requests={"cpu": "10m"})
    pod = b.pod(b.container("app", requests={"cpu": "10m"}), init_containers=[init])
    vpa = b.vpa(recommendations=[b.rec("app"), b.rec("init")])
    _, patched, _ = mutate(pod, world(vpa))
    assert patched["spec"]["initContainers"] == [init]


@pytest.mark.parametrize("mode", ["Off", None])
def test_update_mode_off_skips_and_default_mode_mutates(mode: str | None) -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}))
    vpa = b.vpa(mode=mode, recommendations=[b.rec()])
    _, _, patch = mutate(pod, world(vpa))
    assert bool(patch) is (mode is None)


def test_earliest_created_vpa_wins() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}))
    late = b.vpa(
        "late", created="2026-11-02T00:00:00Z", recommendations=[b.rec(target={"cpu": "2"})]
    )
    early = b.vpa(
        "early", created="2026-11-01T00:00:00Z", recommendations=[b.rec(target={"cpu": "1"})]
    )
    _, patched, _ = mutate(pod, world(late, early))
    assert resources(patched)["requests"]["cpu"] == "1"
    assert "updated by early" in patched["metadata"]["annotations"]["vpaUpdates"]


def test_owner_chain_job_to_cronjob() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}), owner=("Job", "backup-29000000"), labels={})
    vpa = b.vpa(target=("CronJob", "backup"), recommendations=[b.rec()])
    _, patched, _ = mutate(pod, [b.job("backup-29000000", "backup"), vpa])
    assert resources(patched)["requests"]["cpu"] == "250m"


def test_replicaset_not_yet_cached_resolves_by_template_hash() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}))
    _, patched, _ = mutate(pod, [b.vpa(recommendations=[b.rec()])])
    assert resources(patched)["requests"]["cpu"] == "250m"


def test_vpa_targeting_a_statefulset() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m"}), owner=("StatefulSet", "db"), labels={})
    _, patched, _ = mutate(pod, [b.vpa(target=("StatefulSet", "db"), recommendations=[b.rec()])])
    assert resources(patched)["requests"]["cpu"] == "250m"


def test_other_namespace_bare_pod_and_no_recommendation_are_left_alone() -> None:
    vpa = b.vpa(namespace="other", recommendations=[b.rec()])
    assert mutate(b.pod(), world(vpa))[2] == []
    assert mutate(b.pod(owner=None), world(b.vpa(recommendations=[b.rec()])))[2] == []
    assert mutate(b.pod(), world(b.vpa()))[2] == []


def test_without_synced_caches_the_pod_is_allowed_unchanged_with_a_warning() -> None:
    for state, words in (
        (ClusterState(), "not synced"),
        (ClusterState(enabled=False), "no cluster"),
    ):
        verdict, patched, patch = mutate(b.pod(), state)
        assert patch == []
        assert words in verdict.response["response"]["warnings"][0]


def test_internal_errors_fail_open(monkeypatch: pytest.MonkeyPatch) -> None:
    import webhook.memo

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(webhook.memo, "plan_pod", boom)
    verdict, _, patch = mutate(b.pod(), world(b.vpa(recommendations=[b.rec()])))
    assert patch == [] and verdict.fail_open
    assert verdict.response["response"]["allowed"] is True
    assert "KeyError" in verdict.response["response"]["warnings"][0]


def test_update_and_subresource_requests_are_not_mutated() -> None:
    vpa = b.vpa(recommendations=[b.rec()])
    verdict, _, patch = mutate(b.pod(), world(vpa), operation="UPDATE")
    assert patch == [] and verdict.decision == "skipped"


def test_pods_at_validate_endpoint_get_no_patch() -> None:
    verdict = run(b.review(b.pod()), world(b.vpa(recommendations=[b.rec()])), mutating=False)
    assert "patch" not in verdict.response["response"]
    assert verdict.decision == "skipped"


def test_null_resources_are_replaced_whole() -> None:
    pod = b.pod({"name": "app", "image": "x", "resources": None})
    _, patched, patch = mutate(pod, world(b.vpa(recommendations=[b.rec()])))
    assert resources(patched) == {"requests": {"cpu": "250m", "memory": "256Mi"}}


@pytest.mark.parametrize("request_cpu", ["1e400", "1e308", "-1", "-500m"])
def test_absurd_requests_never_give_a_limit_below_the_new_request(request_cpu: str) -> None:
    """An old request that is negative or beyond a float once scaled the limit to 0 or below
    zero (an invalid pod the apiserver refuses); it now counts as no request."""
    pod = b.pod(b.container(requests={"cpu": request_cpu, "memory": "64Mi"},
                            limits={"cpu": "2", "memory": "128Mi"}))
    vpa = b.vpa(recommendations=[b.rec(target={"cpu": "250m", "memory": "64Mi"})])
    _, patched, _ = mutate(pod, world(vpa))
    res = resources(patched)
    from recommender.quantity import parse_quantity

    assert parse_quantity(res["requests"]["cpu"]) == 0.25
    assert parse_quantity(res["limits"]["cpu"]) >= 0.25
