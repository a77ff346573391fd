"""Conditions, transition times and the meaningful-change rule of the status writer."""

from __future__ import annotations

from recommender.checkpoint import format_time
from recommender.cluster.status import (
    Outcome,
    StatusCache,
    changed_meaningfully,
    conditions_for,
    desired_status,
)
from recommender.recommendation import ContainerRecommendation

NOW = 1_795_000_000.0


def _rec(cpu: float = 0.25, memory: float = 300e6, hours: float = 48.0) -> ContainerRecommendation:
    values = {"cpu": cpu, "memory": memory}
    return ContainerRecommendation(
        container="app", target=dict(values), lower_bound=dict(values),
        upper_bound={k: 2 * v for k, v in values.items()}, uncapped_target=dict(values),
        evidence={"historySpanHours": hours},
    )


def _types(outcome: Outcome) -> dict[str, str]:
    return {c["type"]: c["status"] for c in conditions_for(outcome)}


def test_conditions_for_each_outcome():
    assert _types(Outcome([_rec()])) == {"RecommendationProvided": "True"}
    assert _types(Outcome([_rec(hours=3)])) == {
        "RecommendationProvided": "True", "LowConfidence": "True"}
    assert _types(Outcome([], pods_matched=False)) == {
        "RecommendationProvided": "False", "NoPodsMatched": "True"}
    assert _types(Outcome([])) == {"RecommendationProvided": "False"}
    (unsupported,) = conditions_for(Outcome(config_error="spec.x: bad"))
    assert unsupported["type"] == "ConfigUnsupported" and unsupported["message"] == "spec.x: bad"


def test_transition_time_kept_while_status_stays():
    first = desired_status(Outcome([_rec()]), None, None, NOW)
    later = desired_status(Outcome([_rec()]), first, None, NOW + 600)
    assert later["conditions"] == first["conditions"]
    lost = desired_status(Outcome([], pods_matched=False), first, None, NOW + 1200)
    provided = {c["type"]: c for c in lost["conditions"]}["RecommendationProvided"]
    assert provided["lastTransitionTime"] == format_time(NOW + 1200)


def test_config_error_keeps_the_old_recommendation():
    old = desired_status(Outcome([_rec()]), None, None, NOW)
    new = desired_status(Outcome(config_error="bad"), old, None, NOW)
    assert new["recommendation"] == old["recommendation"]


def test_small_moves_are_not_worth_a_patch():
    old = desired_status(Outcome([_rec(0.25)]), None, None, NOW)
    assert not changed_meaningfully(old, desired_status(Outcome([_rec(0.255)]), old, None, NOW),
                                    0.03)
    assert changed_meaningfully(old, desired_status(Outcome([_rec(0.27)]), old, None, NOW), 0.03)
    assert changed_meaningfully(old, desired_status(Outcome([_rec(hours=2)]), old, None, NOW),
                                0.03)
    assert changed_meaningfully({}, old, 0.03)


def test_status_cache_uses_the_resource_version():
    cache = StatusCache()
    status = desired_status(Outcome([_rec()]), None, None, NOW)
    obj = {"metadata": {"resourceVersion": "7"}, "status": status}
    cache.remember(("shop", "web"), obj)
    assert cache.unchanged(("shop", "web"), obj, Outcome([_rec(0.251)]), 0.03)
    assert not cache.unchanged(("shop", "web"), obj, Outcome([_rec(0.3)]), 0.03)
    bumped = {"metadata": {"resourceVersion": "8"}, "status": status}
    assert not cache.unchanged(("shop", "web"), bumped, Outcome([_rec()]), 0.03)
