"""Smoke tests proving the control-plane harness: controllers, CRDs, RBAC, loopback webhooks."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.pki import certificate_pem, issue_certificate, make_ca

pytestmark = pytest.mark.e2e

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        resources: {requests: {cpu: 100m, memory: 64Mi}}
"""


def _apply(cluster: KubeCluster, manifest: str, *args: str) -> None:
    proc = cluster.kubectl("apply", "-f", "-", *args, input=manifest)
    assert proc.returncode == 0, proc.stderr


def test_deployment_creates_replicaset_and_pending_pods(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    _apply(kube_cluster, DEPLOYMENT, "-n", kube_namespace)

    def pods() -> list[dict[str, Any]]:
        items = kube_cluster.get_json("pods", "-n", kube_namespace, "-l", "app=web")["items"]
        return items if len(items) == 2 else []

    found = wait_until(pods, timeout=60, what="2 pods of the Deployment")
    replicasets = kube_cluster.get_json("rs", "-n", kube_namespace, "-l", "app=web")["items"]
    assert len(replicasets) == 1
    owner = replicasets[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web", True)
    for pod in found:
        assert pod["status"]["phase"] == "Pending"  # no scheduler, no kubelet
        (pod_owner,) = pod["metadata"]["ownerReferences"]
        assert pod_owner["kind"] == "ReplicaSet"
        assert pod_owner["name"] == replicasets[0]["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        assert container["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
        # The ServiceAccount admission plugin and the token controllers are at work.
        assert pod["spec"]["serviceAccountName"] == "default"


def test_crd_and_custom_resource(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    group = f"e2e{uuid.uuid4().hex[:6]}.tidal.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    _apply(kube_cluster, json.dumps(crd))
    try:
        waited = kube_cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s"
        )
        assert waited.returncode == 0, waited.stderr
        widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}}

        def applied() -> bool:  # discovery can lag the Established condition briefly
            proc = kube_cluster.kubectl(
                "apply", "-n", kube_namespace, "-f", "-",
                input=json.dumps({**widget, "spec": {"size": 3}}),
            )  # fmt: skip
            return proc.returncode == 0

        wait_until(applied, timeout=30, what="the Widget to be accepted")
        got = kube_cluster.get_json(f"widgets.{group}", "w1", "-n", kube_namespace)
        assert got["spec"] == {"size": 3}
        # The schema is enforced by the real apiserver.
        bad = kube_cluster.kubectl(
            "apply", "-n", kube_namespace, "-f", "-",
            input=json.dumps({**widget, "metadata": {"name": "w2"}, "spec": {"size": 0}}),
        )  # fmt: skip
        assert bad.returncode == 1
        assert "spec.size" in bad.stderr
    finally:
        kube_cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false")


def test_rbac_is_enforced(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    user = f"alice-{uuid.uuid4().hex[:6]}"
    if kube_cluster.pki is not None:  # a real client certificate: the x509 authenticator path
        as_user = [f"--kubeconfig={kube_cluster.user_kubeconfig(user, path=tmp_path / 'kc')}"]
    else:
        as_user = [f"--as={user}"]

    denied = kube_cluster.kubectl(*as_user, "get", "pods", "-n", kube_namespace)
    assert denied.returncode == 1
    assert "Error from server (Forbidden)" in denied.stderr
    assert f'User "{user}" cannot list resource "pods"' in denied.stderr

    kube_cluster.kubectl(
        "create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", kube_namespace,
        check=True,
    )  # fmt: skip
    kube_cluster.kubectl(
        "create", "rolebinding", "alice-reads", "--role=pod-reader", f"--user={user}",
        "-n", kube_namespace, check=True,
    )  # fmt: skip
    wait_until(
        lambda: kube_cluster.kubectl(*as_user, "get", "pods", "-n", kube_namespace).returncode == 0,
        timeout=15,
        what="the RoleBinding to take effect",
    )
    # Still nothing outside the granted namespace and verbs.
    assert kube_cluster.kubectl(*as_user, "get", "pods", "-n", "default").returncode == 1
    can = kube_cluster.kubectl(*as_user, "auth", "can-i", "delete", "pods", "-n", kube_namespace)
    assert can.stdout.strip() == "no"


class _Recorder(BaseHTTPRequestHandler):
    """Mutating webhook that labels ConfigMaps and records the reviews it receives."""

    reviews: list[dict[str, Any]]

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).reviews.append({"path": self.path, "review": review})
        patch = [{"op": "add", "path": "/metadata/labels", "value": {"mutated-by": "e2e"}}]
        if review["request"]["object"]["metadata"].get("labels"):
            patch = [{"op": "add", "path": "/metadata/labels/mutated-by", "value": "e2e"}]
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"],
                    "allowed": True,
                    "patchType": "JSONPatch",
                    "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def tls_webhook_server(tmp_path: Path) -> Iterator[tuple[int, bytes, list[dict[str, Any]]]]:
    """A TLS server on 127.0.0.1: yields (port, CA bundle PEM, recorded reviews)."""
    ca_cert, ca_key = make_ca("e2e-webhook-ca", days=1)
    cert_pem, key_pem = issue_certificate(
        ca_cert, ca_key, "e2e-webhook", server=True, ips=["127.0.0.1"], days=1
    )
    (tmp_path / "tls.crt").write_bytes(cert_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")

    class Handler(_Recorder):
        reviews: list[dict[str, Any]] = []  # one list per fixture instance

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], certificate_pem(ca_cert), Handler.reviews
    finally:
        server.shutdown()
        server.server_close()


def test_apiserver_calls_loopback_mutating_webhook(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    tls_webhook_server: tuple[int, bytes, list[dict[str, Any]]],
) -> None:
    port, ca_pem, reviews = tls_webhook_server
    name = f"e2e-{kube_namespace}"
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "label.e2e.tidal.dev",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/mutate",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": kube_namespace}
                },
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }
        ],
    }
    _apply(kube_cluster, yaml.safe_dump(config))
    try:
        attempt = iter(range(1000))

        def mutated() -> dict[str, Any] | None:
            # The configuration reaches the apiserver's webhook informer shortly after apply.
            cm = f"cm-{next(attempt)}"
            kube_cluster.kubectl(
                "create", "configmap", cm, "--from-literal=k=v", "-n", kube_namespace, check=True
            )
            got = kube_cluster.get_json("configmap", cm, "-n", kube_namespace)
            return got if got["metadata"].get("labels", {}).get("mutated-by") == "e2e" else None

        got = wait_until(mutated, timeout=30, interval=0.5, what="the webhook to mutate")
        assert got["data"] == {"k": "v"}
        call = reviews[-1]
        assert call["path"].startswith("/mutate?timeout=5s")
        request = call["review"]["request"]
        assert request["operation"] == "CREATE"
        assert request["namespace"] == kube_namespace
        assert request["object"]["metadata"]["name"] == got["metadata"]["name"]
        assert "system:masters" in request["userInfo"]["groups"]
    finally:
        kube_cluster.kubectl("delete", "mutatingwebhookconfiguration", name, "--wait=false")
