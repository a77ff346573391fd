"""Upstream's vpa-admission-controller registered beside Tidal's webhook: the webhook finds its
MutatingWebhookConfiguration and says so in ``/readyz`` (still ready) and in a metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cluster import KubeCluster, wait_until
from tests.webhook.test_server import Server

pytestmark = pytest.mark.e2e

UPSTREAM = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "vpa-webhook-config"},
    "webhooks": [{
        "name": "vpa.k8s.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "failurePolicy": "Ignore", "timeoutSeconds": 1,
        "clientConfig": {"service": {"namespace": "kube-system", "name": "vpa-webhook"}},
        # as upstream registers it, but for no namespace: other tests share this cluster
        "namespaceSelector": {"matchLabels": {"tidal.dev/e2e-never": "true"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}],
    }],
}


def test_upstream_admission_controller_is_reported(kube_cluster: KubeCluster,
                                                   tmp_path: Path) -> None:
    proc = kube_cluster.kubectl("apply", "--server-side", "-k",
                                str(Path(__file__).resolve().parents[2] / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr
    proc = kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(UPSTREAM))
    assert proc.returncode == 0, proc.stderr
    server = Server(tmp_path, cluster=["--kubeconfig", str(kube_cluster.kubeconfig)])
    try:
        ready = wait_until(lambda: (r := server.session.get(server.url + "/readyz", timeout=5))
                           .status_code == 200 and "warnings" in r.json() and r.json(),
                           timeout=60, what="/readyz to report upstream's webhook")
        (warning,) = ready["warnings"]
        assert warning.startswith("upstream's vpa-admission-controller is registered "
                                  "(vpa-webhook-config) beside this webhook")
        wait_until(lambda: "tidal_webhook_upstream_admission_controller 1.0" in server.session.get(
            server.url + "/metrics", timeout=5).text, timeout=30, what="the metric")
        assert "upstream's vpa-admission-controller is registered" in server.output()
    finally:
        server.stop()
        kube_cluster.kubectl("delete", "mutatingwebhookconfiguration", "vpa-webhook-config",
                             "--ignore-not-found")
