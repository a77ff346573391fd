"""The Helm chart against the real API server: a server-side dry-run install (every object
admitted, defaulted and validated as an install would be, nothing stored)."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.cluster import KubeCluster
from tests.e2e.gobuild import build_tool
from tests.helm.conftest import CHART, TOOL

pytestmark = pytest.mark.e2e


def test_helm_install_dry_run_server(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    helm = build_tool(TOOL, "helm", "helm.sh/helm/v4/cmd/helm")
    for mode in ("job", "cert-manager"):
        proc = subprocess.run(
            [str(helm), "install", f"tidal-{mode}", str(CHART), "--namespace", kube_namespace,
             "--kubeconfig", str(kube_cluster.kubeconfig), "--dry-run=server", "--skip-crds",
             "--set", f"certs.mode={mode}"],
            capture_output=True, text=True, timeout=120, check=False)
        if mode == "cert-manager":  # cert-manager's CRDs are not in the test cluster
            assert proc.returncode != 0
            assert "Certificate" in proc.stderr and "cert-manager.io" in proc.stderr
            continue
        assert proc.returncode == 0, proc.stderr
        assert "STATUS: pending-install" in proc.stdout
        for kind in ("MutatingWebhookConfiguration", "Deployment", "CronJob"):
            assert f"kind: {kind}" in proc.stdout
