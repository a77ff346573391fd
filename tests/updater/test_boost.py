"""Taking a startup boost back in place once the pod has been Ready for durationSeconds."""

from __future__ import annotations

import json

from tests.updater.builders import container, pod, vpa
from tests.updater.test_decide import decide
from updater.decide import RESIZE, SKIP
from webhook.boost import BOOST_ANNOTATION

ENTRY = {"app": {"boosted": "750m", "durationSeconds": "60", "request": "100m", "limit": "200m"}}


def boosted_pod(ready_for: float, ready: bool = True) -> dict:
    return pod(containers=[container(requests={"cpu": "750m", "memory": "512Mi"},
                                     limits={"cpu": "1500m", "memory": "1Gi"})],
               age_s=ready_for, ready=ready,
               annotations={BOOST_ANNOTATION: json.dumps(ENTRY)})  # fmt: skip


def boosted_vpa(mode: str) -> dict:
    obj = vpa(mode, target={"cpu": "250m", "memory": "512Mi"})
    obj["spec"]["startupBoost"] = {"cpu": {"type": "Factor", "factor": 3, "durationSeconds": 60}}
    return obj


def test_the_boost_holds_until_ready_plus_its_duration() -> None:
    not_ready = decide(boosted_vpa("InPlaceOrRecreate"), boosted_pod(600, ready=False))
    assert not_ready.action == SKIP and "not Ready yet" in not_ready.reason
    early = decide(boosted_vpa("InPlaceOrRecreate"), boosted_pod(30))
    assert early.action == SKIP and "startup boost active (30s to go)" in early.reason


def test_after_it_the_cpu_goes_to_the_target_in_place_in_every_mode() -> None:
    for mode in ("InPlaceOrRecreate", "Recreate", "Initial", "InPlace"):
        decision = decide(boosted_vpa(mode), boosted_pod(61))
        assert decision.action == RESIZE, (mode, decision.reason)  # never an eviction
        [change] = decision.changes
        assert change.requests == {"cpu": 0.25} and change.limits == {"cpu": 0.5}
        assert decision.message() == (
            f"Resized cpu 750m -> 250m: {mode}, startup boost over (Ready for 61s)"
        )


def test_with_mode_off_the_cpu_returns_to_the_pods_own_values() -> None:
    decision = decide(boosted_vpa("Off"), boosted_pod(61))
    assert decision.action == RESIZE
    [change] = decision.changes
    assert change.requests == {"cpu": 0.1} and change.limits == {"cpu": 0.2}


def test_a_single_replica_is_unboosted_too() -> None:
    decision = decide(boosted_vpa("Off"), boosted_pod(61), extra_pods=0, replicas=1)
    assert decision.action == RESIZE


def test_a_pod_no_longer_at_its_boosted_cpu_follows_the_usual_rules() -> None:
    already = pod(containers=[container(requests={"cpu": "250m", "memory": "512Mi"},
                                        limits={"cpu": "500m", "memory": "1Gi"})],
                  annotations={BOOST_ANNOTATION: json.dumps(ENTRY)})  # fmt: skip
    decision = decide(boosted_vpa("InPlaceOrRecreate"), already)
    assert decision.action == SKIP and decision.skip_kind == "within_bounds"
