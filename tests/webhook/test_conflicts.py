"""HPA/VPA conflicts decided from the target's pod template; GitOps updates of old conflicts."""

from __future__ import annotations

import re

import pytest
import yaml

from webhook.state import ClusterState, Workload

from . import builders as b
from .test_validate import denied, validate

MEMORY_HPA = b.hpa_v2(metrics=[b.resource_metric("memory")])
CPU_HPA = b.hpa_v2(metrics=[b.resource_metric("cpu")])
APP_CPU_ONLY = [{"containerName": "app", "controlledResources": ["cpu"]}]


def _with_fix(vpa: dict, message: str) -> dict:
    """``vpa`` with the containerPolicies entry the message says to add."""
    (entry,) = re.findall(r"add (\{containerName: [^}]*\}) to the VPA's containerPolicies",
                          message)
    fixed = b.vpa(policies=[*vpa["spec"].get("resourcePolicy", {}).get("containerPolicies", []),
                            yaml.safe_load(entry)])
    return fixed


def test_the_cache_keeps_each_workloads_controller_and_container_names() -> None:
    state = ClusterState.from_objects([b.workload("web", "app", "sidecar"), b.replica_set()])
    assert state.workload("default", "Deployment", "web") == Workload(None, ("app", "sidecar"))
    owned = state.workload("default", "ReplicaSet", "web-7d9f8b6c5d")
    assert owned is not None and str(owned.controller) == "Deployment/web"
    assert state.workload("default", "CronJob", "web") is None


def test_a_cpu_only_policy_on_the_only_container_allows_an_hpa_on_memory() -> None:
    vpa = b.vpa(policies=APP_CPU_ONLY)
    assert validate(MEMORY_HPA, [vpa, b.workload("web", "app")])["allowed"] is True
    # The mirror: the VPA created beside the HPA.
    assert validate(vpa, [MEMORY_HPA, b.workload("web", "app")])["allowed"] is True
    # A * policy (or an exact one) on cpu, for any number of containers.
    star = b.vpa(policies=[{"containerName": "*", "controlledResources": ["cpu"]}])
    assert validate(MEMORY_HPA, [star, b.workload("web", "app", "proxy")])["allowed"] is True


def test_a_container_left_to_the_defaults_still_conflicts_and_the_fix_is_the_star_entry() -> None:
    vpa = b.vpa(policies=APP_CPU_ONLY)
    message = denied(validate(MEMORY_HPA, [vpa, b.workload("web", "app", "sidecar")]))
    assert message == (
        "HorizontalPodAutoscaler default/web scales Deployment/web on memory utilization, but "
        "VerticalPodAutoscaler default/web-vpa (updateMode Recreate) also controls memory of "
        "container sidecar in Deployment/web (sidecar has no containerPolicies entry, so the "
        "VPA sizes its cpu and memory by default). Scale the HPA on a custom or external metric "
        'such as tidal_forecast, add {containerName: "*", controlledResources: ["cpu"]} to the '
        "VPA's containerPolicies, or set its updateMode to Off."
    )
    # Never the setting the user already has (app's controlledResources are [cpu]).
    assert "controlledResources to" not in message
    # The fix, applied as written, is accepted.
    assert validate(MEMORY_HPA, [_with_fix(vpa, message), b.workload("web", "app", "sidecar")]
                    )["allowed"] is True


@pytest.mark.parametrize(("policies", "fix"), [
    ([{"containerName": "*", "minAllowed": {"cpu": "10m"}}],
     'set controlledResources of the VPA\'s "*" policy to ["cpu"]'),
    ([{"containerName": "app"}, {"containerName": "*", "controlledResources": ["cpu"]}],
     'set controlledResources of the VPA\'s "app" policy to ["cpu"]'),
    ([{"containerName": "app", "controlledResources": ["memory"]},
      {"containerName": "*", "controlledResources": ["cpu"]}],
     'set mode: "Off" in the VPA\'s "app" policy'),
])  # fmt: skip
def test_an_existing_policy_that_conflicts_is_named_with_its_edit(policies: list, fix: str
                                                                  ) -> None:
    message = denied(validate(MEMORY_HPA, [b.vpa(policies=policies),
                                           b.workload("web", "app", "sidecar")]))
    assert f"{fix}, or set its updateMode to Off." in message
    assert "by default" not in message


def test_container_resource_metrics_read_only_their_container() -> None:
    template = b.workload("web", "app", "proxy")
    off_proxy = b.vpa(policies=[{"containerName": "proxy", "mode": "Off"}])
    on_proxy = b.hpa_v2(metrics=[b.resource_metric("cpu", "proxy")])
    assert validate(on_proxy, [off_proxy, template])["allowed"] is True
    assert validate(off_proxy, [on_proxy, template])["allowed"] is True
    # A container the template does not have is sized by nobody.
    on_ghost = b.hpa_v2(metrics=[b.resource_metric("cpu", "ghost")])
    assert validate(on_ghost, [b.vpa(), template])["allowed"] is True
    # The sized one: its own entry is the fix (the * default keeps sizing proxy).
    message = denied(validate(b.hpa_v2(metrics=[b.resource_metric("cpu", "app")]),
                              [off_proxy, template]))
    assert "also controls cpu of container app in Deployment/web (app has no" in message
    assert 'add {containerName: "app", controlledResources: ["memory"]} to the VPA\'s ' \
        "containerPolicies, or set its updateMode to Off." in message


@pytest.mark.parametrize(("kind", "why"), [
    ("CronJob", "Tidal does not cache CronJob objects, so it cannot see the containers of "
                "CronJob/web"),
    ("Rollout", "Tidal does not cache Rollout objects, so it cannot see the containers of "
                "Rollout/web"),
    ("Deployment", "Deployment/web is not in Tidal's cache yet, so Tidal cannot see its "
                   "containers"),
])  # fmt: skip
def test_kinds_not_cached_and_missing_workloads_fall_back_and_say_so(kind: str, why: str
                                                                     ) -> None:
    vpa = b.vpa(target=(kind, "web"), policies=APP_CPU_ONLY)
    hpa = b.hpa_v2(target=(kind, "web"), metrics=[b.resource_metric("memory")])
    message = denied(validate(hpa, [vpa, b.workload("other", "app")]))
    assert f"also controls memory of any container other than app in {kind}/web ({why}; " \
        "no containerPolicies entry names them, so the VPA sizes their cpu and memory by " \
        'default). Scale the HPA on a custom or external metric such as tidal_forecast, add ' \
        '{containerName: "*", controlledResources: ["cpu"]} to the VPA\'s containerPolicies' \
        in message
    assert why in denied(validate(vpa, [hpa]))


WARNINGS = [
    "HPA web scales Deployment/web on memory, which VPA web-vpa also sizes: they conflict",
    "allowed: they conflicted before this update too (a new conflict is denied)",
    'fix: add {containerName: "*", controlledResources: ["cpu"]} to VPA web-vpa\'s '
    "containerPolicies",
    "or set VPA web-vpa's updateMode to Off, or scale HPA web on a custom or external metric "
    "(tidal_forecast)",
]


def test_updating_either_side_of_an_existing_conflict_is_allowed_with_warnings() -> None:
    vpa = b.vpa(policies=APP_CPU_ONLY)
    template = b.workload("web", "app", "sidecar")
    scaled = b.hpa_v2(metrics=[b.resource_metric("memory")])
    scaled["spec"]["maxReplicas"] = 20
    response = validate(scaled, [vpa, MEMORY_HPA, template], operation="UPDATE", old=MEMORY_HPA)
    assert response["allowed"] is True and response["warnings"] == WARNINGS
    # The VPA's update (a new minAllowed), the HPA unchanged.
    bounded = b.vpa(policies=[{**APP_CPU_ONLY[0], "minAllowed": {"cpu": "50m"}}])
    response = validate(bounded, [vpa, MEMORY_HPA, template], operation="UPDATE", old=vpa)
    assert response["allowed"] is True and response["warnings"] == WARNINGS


def test_an_update_that_creates_the_conflict_is_denied() -> None:
    template = b.workload("web", "app", "sidecar")
    vpa = b.vpa(policies=APP_CPU_ONLY)
    before = b.hpa_v2(metrics=[b.resource_metric("memory", "app")])  # app: cpu only, allowed
    message = denied(validate(MEMORY_HPA, [vpa, before, template], operation="UPDATE",
                              old=before))
    assert message.startswith("HorizontalPodAutoscaler default/web scales Deployment/web on "
                              "memory utilization, but")
    # A VPA turned on (Off before) beside the HPA.
    off = b.vpa(mode="Off", policies=APP_CPU_ONLY)
    message = denied(validate(vpa, [off, MEMORY_HPA, template], operation="UPDATE", old=off))
    assert message.startswith("VerticalPodAutoscaler default/web-vpa (updateMode Recreate) "
                              "controls memory of container sidecar")
    # Old conflicts count only for UPDATE: a CREATE that carries an oldObject is still denied.
    denied(validate(MEMORY_HPA, [vpa, template], old=MEMORY_HPA))
