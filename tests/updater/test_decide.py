"""The updater's per-pod decisions, as upstream VPA 1.7's updater makes them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.updater.builders import NOW, condition, container, pod, replicaset, vpa
from updater.decide import EVICT, RESIZE, SKIP, Decision
from updater.loop import Updater
from updater.settings import UpdaterSettings


def decide(
    vpa_obj: dict[str, Any],
    pod_obj: dict[str, Any],
    settings: UpdaterSettings | None = None,
    updater: Updater | None = None,
    now: float = NOW,
    use: dict[tuple[str, str], float] | None = None,
    replicas: int = 3,
    extra_pods: int = 2,
) -> Decision:
    """Decide ``pod_obj`` among ``extra_pods`` healthy siblings (minReplicas is met)."""
    updater = updater or Updater(None, settings or UpdaterSettings())  # type: ignore[arg-type]
    siblings = [pod(name=f"web-5f7d8c9b4-sib{i}") for i in range(extra_pods)]
    result = updater.decide([vpa_obj, replicaset(replicas)], [pod_obj, *siblings],
                            {("shop", "ReplicaSet", "web-5f7d8c9b4"): replicas}, now, use)
    return next(d for d in result.decisions if d.pod.name == pod_obj["metadata"]["name"])


BELOW = {"cpu": "1", "memory": "512Mi"}  # lowerBound above the pod's 500m cpu request


@pytest.mark.parametrize("mode", ["Off", "Initial"])
def test_off_and_initial_never_touch_running_pods(mode: str) -> None:
    decision = decide(vpa(mode, target={"cpu": "2", "memory": "1Gi"}, lower=BELOW), pod())
    assert decision.action == SKIP
    assert "never touches running pods" in decision.reason


@pytest.mark.parametrize("mode", ["Recreate", "Auto"])
def test_eviction_modes_evict_a_pod_outside_its_bounds(mode: str) -> None:
    decision = decide(vpa(mode, target={"cpu": "2", "memory": "512Mi"}, lower=BELOW), pod())
    assert decision.action == EVICT
    assert decision.reason == "outside bounds"
    assert "cpu 500m -> 2" in decision.message()


def test_within_bounds_a_young_pod_is_left_alone_and_an_old_one_updated() -> None:
    rec = vpa("Recreate", target={"cpu": "300m", "memory": "512Mi"},
              lower={"cpu": "200m", "memory": "256Mi"}, upper={"cpu": "1", "memory": "1Gi"})
    assert decide(rec, pod(age_s=3600)).action == SKIP
    old = decide(rec, pod(age_s=13 * 3600))
    assert old.action == EVICT and old.reason == "40% from target"


def test_within_bounds_a_small_difference_is_not_worth_an_update() -> None:
    rec = vpa("Recreate", target={"cpu": "520m", "memory": "512Mi"},
              lower={"cpu": "200m", "memory": "256Mi"}, upper={"cpu": "1", "memory": "1Gi"})
    assert decide(rec, pod(age_s=48 * 3600)).action == SKIP


def test_a_quick_oom_updates_a_young_pod_at_once() -> None:
    rec = vpa("Recreate", target={"cpu": "500m", "memory": "1Gi"},
              lower={"cpu": "200m", "memory": "256Mi"}, upper={"cpu": "1", "memory": "2Gi"})
    quick = decide(rec, pod(age_s=60, oom=(NOW - 400, NOW - 120)))
    assert quick.action == EVICT and quick.reason == "OOM-killed soon after start"
    # evictAfterOOMSeconds on the VPA: a run of 280 s is no longer "quick" under 200 s.
    rec["spec"]["updatePolicy"]["evictAfterOOMSeconds"] = 200
    assert decide(rec, pod(age_s=60, oom=(NOW - 400, NOW - 120))).action == SKIP


def test_evict_after_oom_seconds_bounds_both_the_run_and_how_long_ago_it_ended() -> None:
    """Upstream's quick OOM: the killed run lasted less than the threshold AND ended less than
    the threshold ago; the VPA's evictAfterOOMSeconds replaces the global 10 minutes."""
    rec = vpa("Recreate", target={"cpu": "500m", "memory": "1Gi"},
              lower={"cpu": "200m", "memory": "256Mi"}, upper={"cpu": "1", "memory": "2Gi"})
    old_kill = pod(age_s=7200, oom=(NOW - 4000, NOW - 3900))  # a 100 s run, 65 min ago
    long_run = pod(age_s=7200, oom=(NOW - 1000, NOW - 100))  # a 15 min run, just now
    assert decide(rec, old_kill).action == SKIP
    assert decide(rec, long_run).action == SKIP
    rec["spec"]["updatePolicy"]["evictAfterOOMSeconds"] = 7200
    for p in (old_kill, long_run):
        decision = decide(rec, p)
        assert decision.action == EVICT and decision.reason == "OOM-killed soon after start"
    rec["spec"]["updatePolicy"]["evictAfterOOMSeconds"] = 3600  # the old kill is now too old
    assert decide(rec, old_kill).action == SKIP


def test_in_place_resizes_all_containers_with_limits_in_proportion() -> None:
    target = {"cpu": "250m", "memory": "256Mi"}
    rec = vpa("InPlaceOrRecreate", target=target, upper=target)
    rec["status"]["recommendation"]["containerRecommendations"].append(
        {"containerName": "side", "target": {"cpu": "50m", "memory": "64Mi"},
         "lowerBound": {"cpu": "50m"}, "upperBound": {"cpu": "50m", "memory": "64Mi"}})
    p = pod(containers=[
        container(limits={"cpu": "1", "memory": "1Gi"}),
        container("side", {"cpu": "100m", "memory": "128Mi"}, {"cpu": "200m", "memory": "256Mi"}),
    ])
    idle = {("shop/web-5f7d8c9b4-abcde", name): 2**20 for name in ("app", "side")}
    decision = decide(rec, p, use=idle)
    assert decision.action == RESIZE, decision.reason
    changes = {c.name: c for c in decision.changes}
    assert changes["app"].requests == {"cpu": 0.25, "memory": 256 * 2**20}
    assert changes["app"].limits == {"cpu": 0.5, "memory": 512 * 2**20}  # ratio 2 kept
    assert changes["side"].requests == {"cpu": 0.05, "memory": 64 * 2**20}
    assert changes["side"].limits == {"cpu": 0.1, "memory": 128 * 2**20}


def test_the_event_message_names_what_changed_and_why() -> None:
    target = {"cpu": "350m", "memory": "512Mi"}
    decision = decide(vpa("InPlaceOrRecreate", target=target, upper=target),
                      pod(containers=[container()]))
    assert decision.message() == (
        "Resized cpu 500m -> 350m, memory unchanged: InPlaceOrRecreate, outside bounds"
    )


def test_guaranteed_pods_stay_guaranteed() -> None:
    resources = {"cpu": "500m", "memory": "512Mi"}
    p = pod(containers=[container(requests=resources, limits=resources)], qos="Guaranteed")
    decision = decide(vpa("InPlace", target={"cpu": "800m", "memory": "512Mi"}, lower=BELOW), p)
    assert decision.action == RESIZE
    change = decision.changes[0]
    assert change.requests == change.limits == {"cpu": 0.8, "memory": 512 * 2**20}


def test_a_resize_that_would_change_the_qos_class_falls_back_to_eviction() -> None:
    # RequestsOnly: the request rises to the limit, making every container Guaranteed.
    resources = container(requests={"cpu": "500m", "memory": "512Mi"},
                          limits={"cpu": "1", "memory": "512Mi"})
    policies = [{"containerName": "*", "controlledValues": "RequestsOnly"}]
    rec = vpa("InPlaceOrRecreate", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW,
              policies=policies)
    decision = decide(rec, pod(containers=[resources], qos="Burstable"))
    assert decision.action == EVICT
    assert "QoS class Burstable -> Guaranteed" in decision.reason
    rec["spec"]["updatePolicy"]["updateMode"] = "InPlace"
    assert decide(rec, pod(containers=[resources], qos="Burstable")).action == SKIP


def test_infeasible_resizes_fall_back_to_eviction_but_never_in_inplace_mode() -> None:
    infeasible = [condition("PodResizePending", "Infeasible", NOW - 10, "Node didn't have "
                            "enough capacity: cpu, requested: 8000, capacity: 4000")]
    p = pod(containers=[container(requests={"cpu": "8", "memory": "512Mi"})],
            conditions=infeasible)
    rec = vpa("InPlaceOrRecreate", target={"cpu": "8", "memory": "512Mi"})
    decision = decide(rec, p)
    assert decision.action == EVICT and "resize infeasible: Node didn't" in decision.reason
    rec["spec"]["updatePolicy"]["updateMode"] = "InPlace"
    cached = decide(rec, p)
    assert cached.action == SKIP and "infeasible" in cached.reason
    # ... retried in place once the target drops below the infeasible size.
    lower = vpa("InPlace", target={"cpu": "2", "memory": "512Mi"})
    retried = decide(lower, p)
    assert retried.action == RESIZE and retried.changes[0].requests["cpu"] == 2.0


@pytest.mark.parametrize(("kind", "reason", "waited", "timeout_action"), [
    ("PodResizePending", "Deferred", 301, EVICT),
    ("PodResizePending", "Deferred", 120, SKIP),
    ("PodResizeInProgress", "", 3601, EVICT),
    ("PodResizeInProgress", "", 600, SKIP),
    ("PodResizeInProgress", "Error", 5, EVICT),
])
def test_resizes_stuck_past_their_timeout_fall_back(
    kind: str, reason: str, waited: float, timeout_action: str
) -> None:
    p = pod(conditions=[condition(kind, reason, NOW - waited)])
    rec = vpa("InPlaceOrRecreate", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW)
    assert decide(rec, p).action == timeout_action
    rec["spec"]["updatePolicy"]["updateMode"] = "InPlace"
    assert decide(rec, p).action == SKIP  # InPlace waits, whatever happens


def test_gpus_change_only_through_a_new_pod() -> None:
    gpu = container(requests={"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "2"},
                    limits={"nvidia.com/gpu": "2"})
    target = {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "1"}
    policies = [{"containerName": "*", "controlledResources": ["cpu", "memory", "nvidia.com/gpu"]}]
    rec = vpa("InPlaceOrRecreate", target=target, policies=policies)
    decision = decide(rec, pod(containers=[gpu]))
    assert decision.action == EVICT and "GPUs" in decision.reason, decision.reason
    rec["spec"]["updatePolicy"]["updateMode"] = "InPlace"
    in_place = decide(rec, pod(containers=[gpu]))
    assert in_place.action != EVICT
    assert all("nvidia.com/gpu" not in c.requests for c in in_place.changes)


def test_a_memory_limit_is_lowered_only_above_current_use() -> None:
    target = {"cpu": "500m", "memory": "256Mi"}
    rec = vpa("InPlace", target=target, upper=target)
    p = pod(containers=[container(limits={"cpu": "1", "memory": "1Gi"})])
    settings = UpdaterSettings(lower_after_s=0)
    unknown = decide(rec, p, settings)
    assert unknown.action == RESIZE
    assert unknown.changes[0].requests["memory"] == 256 * 2**20
    assert unknown.changes[0].limits["memory"] == 2**30  # use unknown: limit kept
    known = decide(rec, p, settings, use={("shop/web-5f7d8c9b4-abcde", "app"): 500 * 2**20})
    assert known.changes[0].limits["memory"] == pytest.approx(500 * 2**20 * 1.2)
    idle = decide(rec, p, settings, use={("shop/web-5f7d8c9b4-abcde", "app"): 10 * 2**20})
    assert idle.changes[0].limits["memory"] == 512 * 2**20  # the proportional limit


def test_in_place_decreases_wait_for_the_lower_target_to_hold() -> None:
    target = {"cpu": "250m", "memory": "512Mi"}
    rec = vpa("InPlaceOrRecreate", target=target, lower={"cpu": "200m", "memory": "256Mi"},
              upper={"cpu": "1", "memory": "1Gi"})
    updater = Updater(None, UpdaterSettings(lower_after_s=3600))  # type: ignore[arg-type]
    first = decide(rec, pod(), updater=updater, now=NOW)
    assert first.action == SKIP and "waits for the target to hold" in first.reason
    assert decide(rec, pod(), updater=updater, now=NOW + 1800).action == SKIP
    held = decide(rec, pod(), updater=updater, now=NOW + 3600)
    assert held.action == RESIZE and held.changes[0].requests["cpu"] == 0.25


def test_in_place_increases_follow_the_target_at_once() -> None:
    rec = vpa("InPlace", target={"cpu": "600m", "memory": "512Mi"},
              lower={"cpu": "200m", "memory": "256Mi"}, upper={"cpu": "2", "memory": "1Gi"})
    decision = decide(rec, pod(age_s=600))  # young, within bounds: upstream would wait 12 h
    assert decision.action == RESIZE and decision.reason == "following the target"
    assert decide(vpa("Recreate", target={"cpu": "600m", "memory": "512Mi"},
                      lower={"cpu": "200m", "memory": "256Mi"},
                      upper={"cpu": "2", "memory": "1Gi"}), pod(age_s=600)).action == SKIP


def test_the_churn_budget_caps_resizes_per_pod_per_day() -> None:
    rec = vpa("InPlace", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW)
    updater = Updater(None, UpdaterSettings())  # type: ignore[arg-type]
    for hour in range(12, 0, -1):
        updater.tide.record_resize("uid-web-5f7d8c9b4-abcde", NOW - 3600 * hour)
    spent = decide(rec, pod(), updater=updater)
    assert spent.action == SKIP and "12 resizes in 24 h" in spent.reason
    # A day later the oldest have aged out of the window.
    assert decide(rec, pod(), updater=updater, now=NOW + 12.5 * 3600).action == RESIZE


def test_a_resize_under_restart_container_policy_counts_as_a_disruption() -> None:
    p = pod(containers=[container(limits={"cpu": "1", "memory": "1Gi"},
                                  resize_policy={"cpu": "RestartContainer"})])
    decision = decide(vpa("InPlace", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW), p)
    assert decision.action == RESIZE and decision.restarts


def test_fewer_live_pods_than_min_replicas_means_no_update() -> None:
    rec = vpa("Recreate", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW)
    lone = decide(rec, pod(), extra_pods=0, replicas=1)
    assert lone.action == SKIP and "fewer than minReplicas 2" in lone.reason
    rec["spec"]["updatePolicy"]["minReplicas"] = 1
    assert decide(rec, pod(), extra_pods=0, replicas=1).action == EVICT


def _with_next_hours(obj: dict[str, Any], target: dict[str, str]) -> dict[str, Any]:
    """``obj`` carrying the recommender's next-hours annotation with ``target``."""
    import json

    from recommender.cluster.next_hours import ANNOTATION

    entry = {"containerName": "app", "target": target, "lowerBound": target,
             "upperBound": target, "uncappedTarget": target}
    obj["metadata"]["annotations"] = {
        ANNOTATION: json.dumps({"containerRecommendations": [entry]})}
    return obj


def test_in_place_modes_follow_the_next_hours_targets() -> None:
    """The status holds (what a new pod gets); an in-place VPA's pods follow the tide."""
    held = {"cpu": "500m", "memory": "512Mi"}  # the pod's own size: nothing to do
    rising = {"cpu": "900m", "memory": "512Mi"}
    moving = decide(_with_next_hours(vpa("InPlaceOrRecreate", target=held), rising), pod())
    assert moving.action == RESIZE and "cpu 500m -> 900m" in moving.message()
    # An evicting mode's new pod is sized by the webhook from the status: held targets only.
    frozen = decide(_with_next_hours(vpa("Recreate", target=held), rising), pod())
    assert frozen.action == SKIP


def test_eviction_requirements_only_let_the_chosen_direction_through() -> None:
    """``updatePolicy.evictionRequirements`` as upstream's updater applies them: a VPA that
    only scales up leaves a pod whose target is below its requests alone."""
    up_only = {"evictionRequirements": [
        {"resources": ["cpu", "memory"], "changeRequirement": "TargetHigherThanRequests"}]}
    higher = vpa("Recreate", target={"cpu": "2", "memory": "512Mi"}, lower=BELOW,
                 update_policy=up_only)
    assert decide(higher, pod()).action == EVICT  # cpu 500m -> 2: higher
    below = {"cpu": "100m", "memory": "128Mi"}
    lower = vpa("Recreate", target=below, upper={"cpu": "200m", "memory": "200Mi"},
                update_policy=up_only)
    decision = decide(lower, pod())
    assert (decision.action, decision.skip_kind) == (SKIP, "eviction_requirements")
    assert decision.reason == ("no container meets the VPA's evictionRequirements "
                               "(TargetHigherThanRequests for cpu/memory)")
    down_only = {"evictionRequirements": [
        {"resources": ["cpu"], "changeRequirement": "TargetLowerThanRequests"}]}
    assert decide(vpa("Recreate", target=below, upper={"cpu": "200m", "memory": "200Mi"},
                      update_policy=down_only), pod()).action == EVICT
    assert decide(vpa("InPlaceOrRecreate", target={"cpu": "2", "memory": "512Mi"},
                      lower=BELOW, update_policy=down_only), pod()).action == SKIP
