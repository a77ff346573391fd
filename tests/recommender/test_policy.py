import pytest

from recommender.policy import MAX_NOTE, MIN_NOTE, apply_policy, cap
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import parse_vpa, validate_vpa
from tests.recommender.builders import MI, vpa


def rec(cpu=0.5, memory=500 * MI, **extra):
    values = {"cpu": cpu, "memory": memory, **extra}
    return ContainerRecommendation("app", dict(values), dict(values), dict(values), dict(values))


def policy(*entries):
    return parse_vpa(vpa(policies=list(entries)))


def test_exact_name_beats_star():
    v = policy({"containerName": "*", "maxAllowed": {"cpu": "100m"}},
               {"containerName": "app", "maxAllowed": {"cpu": "200m"}})
    capped = apply_policy(rec(), v.policy_for("app"))
    assert capped.target["cpu"] == pytest.approx(0.2)
    capped = apply_policy(rec(), v.policy_for("other"))
    assert capped.target["cpu"] == pytest.approx(0.1)


def test_min_and_max_cap_target_and_bounds_not_uncapped():
    v = policy({"containerName": "*", "minAllowed": {"memory": "1Gi"},
                "maxAllowed": {"cpu": "250m"}})
    capped = apply_policy(rec(), v.policy_for("app"))
    for values in (capped.target, capped.lower_bound, capped.upper_bound):
        assert values["cpu"] == pytest.approx(0.25)
        assert values["memory"] == 1024 * MI
    assert capped.uncapped_target == {"cpu": 0.5, "memory": 500 * MI}


def test_zero_bound_is_ignored_and_notes_say_why():
    p = policy({"containerName": "*", "minAllowed": {"cpu": "0"}, "maxAllowed": {"cpu": "1"}})
    assert cap("cpu", 0.01, p.policy_for("x")) == (0.01, None)
    assert cap("cpu", 3.0, p.policy_for("x")) == (1.0, MAX_NOTE)
    p = policy({"containerName": "*", "minAllowed": {"cpu": "2"}})
    assert cap("cpu", 1.0, p.policy_for("x")) == (2.0, MIN_NOTE)


def test_mode_off_gives_no_recommendation():
    v = policy({"containerName": "app", "mode": "Off"})
    assert apply_policy(rec(), v.policy_for("app")) is None


def test_controlled_resources_filter_output():
    v = policy({"containerName": "*", "controlledResources": ["memory"]})
    capped = apply_policy(rec(**{"nvidia.com/gpu": 1.0}), v.policy_for("app"))
    assert set(capped.target) == {"memory"}
    assert set(capped.uncapped_target) == {"memory"}
    # default: cpu and memory only; GPUs are opt-in
    capped = apply_policy(rec(**{"nvidia.com/gpu": 1.0}), None)
    assert set(capped.target) == {"cpu", "memory"}
    v = policy({"containerName": "*", "controlledResources": ["cpu", "nvidia.com/gpu"]})
    capped = apply_policy(rec(**{"nvidia.com/mig-1g.10gb": 1.0}), v.policy_for("app"))
    assert set(capped.target) == {"cpu", "nvidia.com/mig-1g.10gb"}


def test_requests_only_does_not_change_the_recommendation():
    v = policy({"containerName": "*", "controlledValues": "RequestsOnly",
                "maxAllowed": {"cpu": "300m"}})
    capped = apply_policy(rec(), v.policy_for("app"))
    assert capped.target["cpu"] == pytest.approx(0.3)
    assert v.policy_for("app").controlled_values == "RequestsOnly"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"updatePolicy": {"updateMode": "Sometimes"}}, 'Unsupported value: "Sometimes"'),
        ({"updatePolicy": {"minReplicas": 0}}, "minReplicas has to be positive"),
        ({"recommenders": [{"name": "a"}, {"name": "b"}]}, "must have at most 1 item"),
        ({"resourcePolicy": {"containerPolicies": [
            {"containerName": "*", "minAllowed": {"cpu": "2"}, "maxAllowed": {"cpu": "1"}}]}},
         "max resource for cpu is lower than min"),
        ({"resourcePolicy": {"containerPolicies": [
            {"containerName": "*", "mode": "Off", "controlledValues": "RequestsOnly"}]}},
         "controlledValues shouldn't be specified if container scaling mode is off"),
        ({"resourcePolicy": {"containerPolicies": [
            {"containerName": "*", "maxAllowed": {"memory": "lots"}}]}}, "not a valid quantity"),
        ({"resourcePolicy": {"containerPolicies": [
            {"containerName": "*", "maxAllowed": {"nvidia.com/gpu": "1.5"}}]}}, "whole number"),
    ],
)
def test_validation_messages(change, message):
    obj = vpa()
    obj["spec"].update(change)
    errors = validate_vpa(obj)
    assert any(message in e for e in errors), errors
    with pytest.raises(ValueError):
        parse_vpa(obj)


def test_valid_vpa_parses():
    v = parse_vpa(vpa(recommenders=[{"name": "tidal"}]))
    assert v.target_ref.workload == "Deployment/web"
    assert v.served_by("tidal") and not v.served_by("default")
    assert parse_vpa(vpa()).served_by("default")
    assert validate_vpa(vpa()) == []
