"""Upstream's vpa-updater beside Tidal's webhook: with ``--status-lease`` the webhook keeps the
admission-controller status Lease fresh, and upstream's own validator (its
``pkg/utils/status``, built from its Go module) finds it valid; once the webhook stops, the
status goes stale and upstream's updater would stop evicting."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.gobuild import build_tool
from tests.webhook.test_server import Server

pytestmark = pytest.mark.e2e

HARNESS = Path(__file__).resolve().parents[1] / "upstream_status"
LEASE = ("kube-system", "vpa-admission-controller")  # upstream's defaults
STALE_AFTER = "4s"  # upstream's updater waits a minute; a short timeout keeps the test short


def upstream_says(binary: Path, cluster: KubeCluster, timeout: str = "1m") -> str:
    proc = subprocess.run(
        [str(binary), "--kubeconfig", str(cluster.kubeconfig), "--namespace", LEASE[0],
         "--name", LEASE[1], "--timeout", timeout],
        capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else f"error {proc.stderr.strip()}"


def test_upstream_updater_sees_a_fresh_admission_controller_status(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    binary = build_tool(HARNESS, "upstream-status")
    proc = kube_cluster.kubectl("apply", "--server-side", "-k",
                                str(Path(__file__).resolve().parents[2] / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr  # the webhook's caches sync only with the CRDs
    kube_cluster.kubectl("delete", "lease", "-n", LEASE[0], LEASE[1], "--ignore-not-found")
    assert upstream_says(binary, kube_cluster).startswith("error")  # no status at all
    server = Server(tmp_path, cluster=["--kubeconfig", str(kube_cluster.kubeconfig),
                                       "--status-lease", "/".join(LEASE)])
    try:
        lease = wait_until(lambda: kube_cluster.get_json("lease", "-n", LEASE[0], LEASE[1])
                           if kube_cluster.kubectl("get", "lease", "-n", LEASE[0],
                                                   LEASE[1]).returncode == 0 else None,
                           timeout=30, what="the status Lease")
        assert lease["spec"]["leaseDurationSeconds"] == 10
        assert lease["spec"]["holderIdentity"]
        assert upstream_says(binary, kube_cluster) == "true"
        first = lease["spec"]["renewTime"]
        renewed = wait_until(
            lambda: (r := kube_cluster.get_json("lease", "-n", LEASE[0], LEASE[1])["spec"][
                "renewTime"]) != first and r, timeout=30, what="the Lease renewed")
        assert renewed > first
        assert upstream_says(binary, kube_cluster, STALE_AFTER) == "true"
    finally:
        server.stop()
    time.sleep(5)  # longer than STALE_AFTER, with no renewal
    assert upstream_says(binary, kube_cluster, STALE_AFTER) == "false"
