"""Properties of pod sizing over random pods, recommendations, policies and LimitRanges."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.quantity import parse_quantity

from . import builders as b
from .helpers import mutate, resources

millicores = st.integers(min_value=1, max_value=8000)
mebibytes = st.integers(min_value=1, max_value=16384)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict, list[dict], dict]:
    lr_cpu = draw(st.none() | st.tuples(st.integers(1, 500), st.integers(500, 8000)))
    containers, recs = [], []
    for i in range(draw(st.integers(1, 3))):
        cpu_req = draw(millicores)
        mem_req = draw(mebibytes)
        if lr_cpu:  # the pod as created must satisfy the LimitRange itself
            cpu_req = min(max(cpu_req, lr_cpu[0]), lr_cpu[1])
        requests = {"cpu": f"{cpu_req}m", "memory": f"{mem_req}Mi"}
        limits = {}
        if draw(st.booleans()):
            top = lr_cpu[1] if lr_cpu else 16000
            limits["cpu"] = f"{draw(st.integers(cpu_req, max(cpu_req, top)))}m"
        if draw(st.booleans()):
            limits["memory"] = f"{draw(st.integers(mem_req, mem_req * 4))}Mi"
        if draw(st.booleans()):
            gpus = draw(st.integers(1, 4))
            requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
        containers.append(b.container(f"c{i}", requests=requests, limits=limits or None))
        target = {"cpu": f"{draw(millicores)}m", "memory": f"{draw(mebibytes)}Mi"}
        if draw(st.booleans()):
            target["nvidia.com/gpu"] = str(draw(st.floats(0.1, 4.0)).__round__(2))
        recs.append(b.rec(f"c{i}", target))
    policy: dict = {
        "containerName": "*",
        "controlledResources": ["cpu", "memory", "nvidia.com/gpu"],
        "controlledValues": draw(st.sampled_from(["RequestsAndLimits", "RequestsOnly"])),
    }
    if draw(st.booleans()):
        policy["maxAllowed"] = {"cpu": f"{draw(millicores)}m"}
    objects = [b.replica_set(), b.vpa(recommendations=recs, policies=[policy])]
    if lr_cpu:
        objects.append(
            b.limit_range(
                {
                    "type": "Container",
                    "min": {"cpu": f"{lr_cpu[0]}m"},
                    "max": {"cpu": f"{lr_cpu[1]}m"},
                }
            )
        )
    return b.pod(*containers), objects, {"lr_cpu": lr_cpu, "policy": policy}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_sizing_invariants(scenario: tuple[dict, list[dict], dict]) -> None:
    pod, objects, info = scenario
    verdict, patched, _ = mutate(pod, objects)
    assert not verdict.fail_open
    for index, before in enumerate(pod["spec"]["containers"]):
        after = resources(patched, index)
        req = {k: parse_quantity(v) for k, v in after.get("requests", {}).items()}
        lim = {k: parse_quantity(v) for k, v in after.get("limits", {}).items()}
        for resource, value in req.items():
            if resource in lim:
                assert value <= lim[resource] + 1e-9, (resource, after)
        if "nvidia.com/gpu" in req or "nvidia.com/gpu" in lim:
            assert req["nvidia.com/gpu"] == lim["nvidia.com/gpu"] == int(req["nvidia.com/gpu"])
        if info["lr_cpu"]:
            low, high = info["lr_cpu"][0] / 1000, info["lr_cpu"][1] / 1000
            assert low - 1e-9 <= req["cpu"] <= high + 1e-9, after
            assert lim.get("cpu", req["cpu"]) <= high + 1e-9, after
        if info["policy"]["controlledValues"] == "RequestsOnly":
            assert after.get("limits") == before["resources"].get("limits", None) or (
                "nvidia.com/gpu" in after.get("limits", {})
            )
    _, again, second = mutate(patched, objects)
    assert second == [], second
