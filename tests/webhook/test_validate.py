"""Validation: HPA/VPA conflicts, duplicate VPAs, VPA spec errors, as kubectl will show them."""

from __future__ import annotations

import pytest

from webhook.state import ClusterState

from . import builders as b
from .helpers import run

EXAMPLE = (
    "HorizontalPodAutoscaler default/web scales Deployment/web on cpu utilization, but "
    "VerticalPodAutoscaler default/web-vpa (updateMode Recreate) also controls cpu of container "
    "app in Deployment/web (the VPA has no containerPolicies, so it sizes cpu and memory by "
    "default). Scale the HPA on a custom or external metric such as tidal_forecast, add "
    '{containerName: "*", controlledResources: ["memory"]} to the VPA\'s containerPolicies, or '
    "set its updateMode to Off."
)


def validate(obj: dict, objects: list[dict] | ClusterState, **kw: object) -> dict:
    return dict(run(b.review(obj, **kw), objects, mutating=False).response["response"])


def denied(response: dict) -> str:
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["reason"] == "Forbidden"
    assert "patch" not in response
    return str(response["status"]["message"])


def test_hpa_on_cpu_against_active_vpa_is_denied_with_the_documented_message() -> None:
    hpa = b.hpa_v2(metrics=[b.resource_metric("cpu")])
    assert denied(validate(hpa, [b.vpa(), b.workload("web", "app")])) == EXAMPLE


@pytest.mark.parametrize("mode", ["Auto", "Recreate", "Initial", "InPlaceOrRecreate", "InPlace"])
def test_every_active_mode_conflicts(mode: str) -> None:
    denied(validate(b.hpa_v2(metrics=[b.resource_metric("memory")]), [b.vpa(mode=mode)]))


def test_v2_without_metrics_means_cpu_and_v1_targets_cpu() -> None:
    assert "on cpu utilization" in denied(validate(b.hpa_v2(), [b.vpa()]))
    v1 = b.hpa_v1()
    assert "cpu" in denied(validate(v1, [b.vpa()], version="v1"))
    assert "cpu" in denied(validate(b.hpa_v1(cpu=None), [b.vpa()], version="v1"))


def test_allowed_combinations() -> None:
    custom = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "rps"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    external = {
        "type": "External",
        "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "5"}},
    }
    memory_only = b.vpa(policies=[{"containerName": "*", "controlledResources": ["memory"]}])
    cases = [
        (b.hpa_v2(metrics=[custom, external]), [b.vpa()]),
        (b.hpa_v2(metrics=[b.resource_metric("cpu")]), [memory_only]),
        (b.hpa_v2(metrics=[b.resource_metric("cpu")]), [b.vpa(mode="Off")]),
        (b.hpa_v2(metrics=[b.resource_metric("cpu")]), [b.vpa(target=("Deployment", "api"))]),
        (b.hpa_v2(metrics=[b.resource_metric("cpu")]), [b.vpa(namespace="other")]),
    ]
    for hpa, objects in cases:
        response = validate(hpa, objects)
        assert response["allowed"] is True, response


def test_container_resource_conflicts_only_for_the_controlled_container() -> None:
    vpa = b.vpa(
        policies=[
            {"containerName": "app", "controlledResources": ["memory"]},
            {"containerName": "proxy", "mode": "Off"},
            {"containerName": "*"},
        ]
    )
    for container in ("app", "proxy"):
        hpa = b.hpa_v2(metrics=[b.resource_metric("cpu", container)])
        assert validate(hpa, [vpa])["allowed"] is True
    message = denied(validate(b.hpa_v2(metrics=[b.resource_metric("cpu", "worker")]), [vpa]))
    assert "on cpu utilization of container worker" in message
    assert "controls cpu of container worker in Deployment/web" in message


def test_hpa_on_both_resources_suggests_update_mode_off() -> None:
    hpa = b.hpa_v2(metrics=[b.resource_metric("cpu"), b.resource_metric("memory")])
    message = denied(validate(hpa, [b.vpa()]))
    assert "controlledResources" not in message and "updateMode to Off" in message


def test_vpa_mirror_case_is_denied() -> None:
    message = denied(validate(b.vpa(), [b.hpa_v2(metrics=[b.resource_metric("cpu")])]))
    assert message == (
        "VerticalPodAutoscaler default/web-vpa (updateMode Recreate) controls cpu of every "
        "container in Deployment/web (the VPA has no containerPolicies, so it sizes cpu and "
        "memory by default), but HorizontalPodAutoscaler default/web already scales "
        'Deployment/web on cpu utilization. Add {containerName: "*", controlledResources: '
        '["memory"]} to the VPA\'s containerPolicies, or set its updateMode to Off, or scale the '
        "HPA on a custom or external metric such as tidal_forecast."
    )
    memory_only = b.vpa(policies=[{"containerName": "*", "controlledResources": ["memory"]}])
    assert validate(memory_only, [b.hpa_v2()])["allowed"] is True
    assert validate(b.vpa(mode="Off"), [b.hpa_v2()])["allowed"] is True


def test_second_vpa_for_one_workload_is_denied_but_updating_itself_is_not() -> None:
    first = b.vpa("web-vpa")
    message = denied(validate(b.vpa("web-vpa-2"), [first]))
    assert "default/web-vpa-2 targets Deployment/web" in message
    assert "default/web-vpa already targets" in message
    updated = b.vpa("web-vpa", mode="Initial")
    assert validate(updated, [first], operation="UPDATE", old=first)["allowed"] is True


@pytest.mark.parametrize(
    ("spec_change", "expected"),
    [
        ({"updatePolicy": {"updateMode": "Sometimes"}}, 'Unsupported value: "Sometimes"'),
        ({"updatePolicy": {"minReplicas": 0}}, "minReplicas has to be positive"),
        ({"recommenders": [{"name": "a"}, {"name": "b"}]}, "must have at most 1 item"),
        (
            {
                "resourcePolicy": {
                    "containerPolicies": [
                        {
                            "containerName": "*",
                            "minAllowed": {"cpu": "2"},
                            "maxAllowed": {"cpu": "1"},
                        }
                    ]
                }
            },
            "max resource for cpu is lower than min",
        ),
        (
            {
                "resourcePolicy": {
                    "containerPolicies": [
                        {"containerName": "*", "mode": "Off", "controlledValues": "RequestsOnly"}
                    ]
                }
            },
            "controlledValues shouldn't be specified if container scaling mode is off",
        ),
        (
            {
                "resourcePolicy": {
                    "containerPolicies": [{"containerName": "*", "maxAllowed": {"memory": "lots"}}]
                }
            },
            "is not a valid quantity",
        ),
        (
            {
                "resourcePolicy": {
                    "containerPolicies": [
                        {"containerName": "*", "maxAllowed": {"nvidia.com/gpu": "1.5"}}
                    ]
                }
            },
            "must be a whole number of devices",
        ),
        (
            {
                "resourcePolicy": {
                    "containerPolicies": [{"containerName": "*", "mode": "Sometimes"}]
                }
            },
            "mode: Unsupported",
        ),
    ],
)
def test_invalid_vpa_specs_are_denied(spec_change: dict, expected: str) -> None:
    obj = b.vpa()
    obj["spec"].update(spec_change)
    message = denied(validate(obj, []))
    assert message.startswith("VerticalPodAutoscaler default/web-vpa is invalid: ")
    assert expected in message


def _policy(**fields: object) -> dict:
    return {"resourcePolicy": {"containerPolicies": [{"containerName": "*", **fields}]}}


PER_VPA = "spec.resourcePolicy.containerPolicies[0]"


@pytest.mark.parametrize(
    ("spec_change", "expected"),
    [
        (_policy(oomBumpUpRatio="0.5"),
         f'{PER_VPA}.oomBumpUpRatio: Invalid value: "0.5": must be greater than or equal to 1.0'),
        (_policy(oomBumpUpRatio="lots"),
         f'{PER_VPA}.oomBumpUpRatio: "lots" is not a valid quantity (e.g. 1.5)'),
        (_policy(oomMinBumpUp="-100Mi"),
         f'{PER_VPA}.oomMinBumpUp: Invalid value: "-100Mi": must be greater than or equal to 0'),
        (_policy(memoryAggregationIntervalSeconds=0),
         f"{PER_VPA}.memoryAggregationIntervalSeconds: Invalid value: 0: must be greater than "
         "or equal to 1"),
        (_policy(memoryAggregationIntervalSeconds="1h"),
         f'{PER_VPA}.memoryAggregationIntervalSeconds: Invalid value: "1h": must be a whole '
         "number"),
        (_policy(memoryAggregationIntervalSeconds=2**31),
         f"{PER_VPA}.memoryAggregationIntervalSeconds: Invalid value: 2147483648: must be at "
         "most 2147483647"),
        (_policy(memoryAggregationIntervalCount=-2),
         f"{PER_VPA}.memoryAggregationIntervalCount: Invalid value: -2: must be greater than "
         "or equal to 1"),
        ({"updatePolicy": {"evictAfterOOMSeconds": 0}},
         "spec.updatePolicy.evictAfterOOMSeconds: Invalid value: 0: must be greater than or "
         "equal to 1"),
        ({"updatePolicy": {"evictionRequirements": [
            {"resources": ["cpu"], "changeRequirement": "TargetHigher"}]}},
         'spec.updatePolicy.evictionRequirements[0].changeRequirement: Unsupported value: '
         '"TargetHigher": supported values: "TargetHigherThanRequests", '
         '"TargetLowerThanRequests"'),
        ({"updatePolicy": {"evictionRequirements": [
            {"resources": ["gpu"], "changeRequirement": "TargetLowerThanRequests"}]}},
         'spec.updatePolicy.evictionRequirements[0].resources[0]: Unsupported value: "gpu": '
         'supported values: "cpu", "memory"'),
    ],
)
def test_invalid_per_vpa_configuration_is_denied_naming_the_field(
    spec_change: dict, expected: str
) -> None:
    obj = b.vpa()
    obj["spec"].update(spec_change)
    message = denied(validate(obj, []))
    assert message == f"VerticalPodAutoscaler default/web-vpa is invalid: {expected}"


def test_valid_per_vpa_configuration_is_allowed() -> None:
    obj = b.vpa()
    obj["spec"].update(_policy(oomBumpUpRatio="1.5", oomMinBumpUp="50Mi",
                               memoryAggregationIntervalSeconds=3600,
                               memoryAggregationIntervalCount=24))  # fmt: skip
    obj["spec"]["updatePolicy"] = {"updateMode": "Recreate", "evictAfterOOMSeconds": 300}
    assert validate(obj, [])["allowed"] is True
    obj["spec"].update(_policy(oomBumpUpRatio=1, oomMinBumpUp=0))  # the neutral values
    assert validate(obj, [])["allowed"] is True


def test_spec_errors_are_checked_even_without_a_cluster() -> None:
    obj = b.vpa()
    obj["spec"]["recommenders"] = [{"name": "a"}, {"name": "b"}]
    denied(validate(obj, ClusterState(enabled=False)))


def test_without_a_cluster_conflict_checks_are_skipped_with_a_warning() -> None:
    response = validate(b.hpa_v2(), ClusterState(enabled=False))
    assert response["allowed"] is True
    assert response["warnings"] == ["tidal: HPA/VPA conflict checks skipped: no cluster connection"]


def test_unknown_kinds_and_deletes_are_allowed() -> None:
    other = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    response = validate(other, [])
    assert (
        response["allowed"] is True
        and "no validation for example.com/widgets" in response["warnings"][0]
    )
    assert validate(b.hpa_v2(), [b.vpa()], operation="DELETE")["allowed"] is True


FORECAST = {"type": "External", "external": {
    "metric": {"name": "tidal_forecast",
               "selector": {"matchLabels": {"workload": "web", "signal": "cpu"}}},
    "target": {"type": "AverageValue", "averageValue": "800m"}}}


def _warnings(response: dict) -> list[str]:
    return response.get("warnings") or []


def test_hpa_on_tidal_forecast_beside_an_active_vpa_is_allowed_and_explained() -> None:
    response = validate(b.hpa_v2(metrics=[FORECAST]), [b.vpa()])
    assert response["allowed"] is True
    (note,) = _warnings(response)
    assert note == ("tidal_forecast is absolute demand: HPA web and VPA web-vpa are "
                    "compatible (VPA requests do not move it)")
    # The mirror: a VPA created beside that HPA gets the same explanation.
    response = validate(b.vpa(), [b.hpa_v2(metrics=[FORECAST])])
    assert response["allowed"] is True and len(_warnings(response)) == 1
    # With cpu utilisation too, the conflict still denies.
    assert "also controls cpu" in denied(validate(
        b.hpa_v2(metrics=[FORECAST, b.resource_metric("cpu")]), [b.vpa()]))
    # No VPA, or one that is Off: nothing to explain.
    assert _warnings(validate(b.hpa_v2(metrics=[FORECAST]), [])) == []
    assert _warnings(validate(b.hpa_v2(metrics=[FORECAST]), [b.vpa(mode="Off")])) == []


def test_an_internal_error_fails_open_with_one_log_line_per_admission(monkeypatch, caplog):
    import logging

    from webhook import admission

    def broken(request, state):
        raise KeyError("spec")

    monkeypatch.setitem(admission._VALIDATORS, admission.HPA, broken)
    monkeypatch.setattr(admission, "_TRACED", set())
    caplog.set_level(logging.ERROR, logger="webhook.admission")
    for _ in range(3):
        response = validate(b.hpa_v2(metrics=[b.resource_metric("cpu")]), [b.vpa()])
        assert response["allowed"] is True
        assert response["warnings"] == [
            "tidal: hpa allowed unchanged after a webhook error (KeyError)"]
    first, *others = caplog.records
    assert "failed open: KeyError: 'spec' (at test_validate.py:" in first.getMessage()
    assert first.exc_info is not None  # the traceback, once
    assert len(others) == 2
    for record in others:
        assert record.exc_info is None
        assert record.getMessage().endswith("traceback logged at its first occurrence")
        assert "\n" not in record.getMessage()
