"""CPU startup boost at creation (AEP-7862): boosted from the target, limits and QoS kept."""

from __future__ import annotations

import json

from recommender.vpa import validate_vpa
from webhook.boost import BOOST_ANNOTATION

from . import builders as b
from .helpers import mutate, resources

RS = b.replica_set()
FACTOR3 = {"cpu": {"type": "Factor", "factor": 3, "durationSeconds": 30}}


def boosted_vpa(boost: dict, **kwargs: object) -> dict:
    vpa = b.vpa(**kwargs)  # type: ignore[arg-type]
    vpa["spec"]["startupBoost"] = boost
    return vpa


def test_factor_multiplies_the_target_and_keeps_the_limit_ratio() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "128Mi"},
                            limits={"cpu": "200m", "memory": "256Mi"}))  # fmt: skip
    vpa = boosted_vpa(FACTOR3, recommendations=[b.rec(target={"cpu": "250m", "memory": "256Mi"})])
    verdict, patched, _ = mutate(pod, [RS, vpa])
    assert verdict.decision == "patched"
    assert resources(patched) == {
        "requests": {"cpu": "750m", "memory": "256Mi"},
        "limits": {"cpu": "1500m", "memory": "512Mi"},
    }
    entry = json.loads(patched["metadata"]["annotations"][BOOST_ANNOTATION])
    assert entry == {"app": {"boosted": "750m", "durationSeconds": "30", "request": "100m",
                             "limit": "200m"}}  # fmt: skip
    assert "cpu boosted x3 until Ready + 30s" in patched["metadata"]["annotations"]["vpaUpdates"]


def test_quantity_adds_to_the_pods_own_request_without_a_recommendation_or_with_mode_off() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "128Mi"}))
    boost = {"cpu": {"type": "Quantity", "quantity": "500m"}}
    for vpa in (boosted_vpa(boost), boosted_vpa(boost, mode="Off",
                                                 recommendations=[b.rec()])):  # fmt: skip
        verdict, patched, _ = mutate(pod, [RS, vpa])
        assert verdict.decision == "patched"
        assert resources(patched) == {"requests": {"cpu": "600m", "memory": "128Mi"}}


def test_requests_only_stays_below_the_limit_so_the_qos_class_holds() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "128Mi"},
                            limits={"cpu": "200m", "memory": "128Mi"}))  # fmt: skip
    policies = [{"containerName": "*", "controlledValues": "RequestsOnly", "startupBoost": FACTOR3}]
    vpa = b.vpa(policies=policies, recommendations=[b.rec(target={"cpu": "100m",
                                                                  "memory": "128Mi"})])
    _, patched, _ = mutate(pod, [RS, vpa])
    assert resources(patched) == {"requests": {"cpu": "199m", "memory": "128Mi"},
                                  "limits": {"cpu": "200m", "memory": "128Mi"}}  # fmt: skip


def test_a_limitrange_max_caps_the_boost() -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "128Mi"}))
    ranges = b.limit_range({"type": "Container", "max": {"cpu": "400m"}})
    vpa = boosted_vpa(FACTOR3, recommendations=[b.rec(target={"cpu": "250m", "memory": "128Mi"})])
    _, patched, _ = mutate(pod, [RS, vpa, ranges])
    assert resources(patched)["requests"]["cpu"] == "400m"


def test_container_policy_boost_wins_over_the_vpas_and_others_are_not_boosted() -> None:
    pod = b.pod(b.container("app", requests={"cpu": "100m", "memory": "128Mi"}),
                b.container("side", requests={"cpu": "100m", "memory": "128Mi"}))  # fmt: skip
    policies = [{"containerName": "side", "mode": "Off",
                 "startupBoost": {"cpu": {"type": "Factor", "factor": 2}}}]  # fmt: skip
    vpa = b.vpa(policies=policies, recommendations=[b.rec("app", {"cpu": "300m",
                                                                  "memory": "128Mi"})])
    _, patched, _ = mutate(pod, [RS, vpa])
    app, side = patched["spec"]["containers"]
    assert app["resources"]["requests"]["cpu"] == "300m"  # sized, not boosted
    assert side["resources"]["requests"]["cpu"] == "200m"  # mode Off, boosted all the same


def test_invalid_boosts_are_rejected_with_the_field_named() -> None:
    cases = {
        "spec.startupBoost.cpu.factor: must be a whole number of at least 1, got 0":
            {"cpu": {"type": "Factor", "factor": 0}},
        "spec.startupBoost.cpu.quantity: quantity is required when type is Quantity":
            {"cpu": {"type": "Quantity"}},
        "spec.startupBoost.cpu.factor: factor is required when type is Factor":
            {"cpu": {"type": "Quantity", "quantity": "1", "factor": 2}},
        "spec.startupBoost.cpu.quantity: must be positive": {"cpu": {"type": "Quantity",
                                                                     "quantity": "-1"}},
        'spec.startupBoost.cpu.type: Unsupported value: "Double"': {"cpu": {"type": "Double"}},
        "spec.startupBoost.cpu.durationSeconds: must be a whole number of seconds >= 0":
            {"cpu": {"type": "Factor", "factor": 2, "durationSeconds": -5}},
    }  # fmt: skip
    for message, boost in cases.items():
        errors = validate_vpa(boosted_vpa(boost))
        assert any(e.startswith(message) for e in errors), (message, errors)
    assert validate_vpa(boosted_vpa(FACTOR3)) == []
