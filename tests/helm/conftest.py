"""A real ``helm`` (v4, built from its Go module in ``tests/helm/tool``) and chart renders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.gobuild import build_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tidal"
TOOL = Path(__file__).resolve().parent / "tool"
NAMESPACE = "tidal-system"


@pytest.fixture(scope="session")
def helm() -> str:
    return str(build_tool(TOOL, "helm", "helm.sh/helm/v4/cmd/helm"))


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def template(helm: str, *values: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """``helm template`` objects (CRDs included) with ``--set`` values."""
    args = ["template", "tidal", str(CHART), "--namespace", namespace, "--include-crds"]
    for value in values:
        args += ["--set", value]
    proc = run_helm(helm, *args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]
