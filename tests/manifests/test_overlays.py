"""The cert-manager overlay: same serving Secret, CA injected by cert-manager."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from certs.pki import service_dns_names
from tests.manifests.conftest import MANIFESTS, NAMESPACE, find, kubectl, of_kind, render

INJECT = "cert-manager.io/inject-ca-from"


@pytest.mark.parametrize("kind", ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"])
def test_ca_is_injected_from_the_serving_certificate(kind: str) -> None:
    objs = render("cert-manager")
    configuration = find(objs, kind, "tidal-webhook")
    namespace, name = configuration["metadata"]["annotations"][INJECT].split("/")
    certificate = find(objs, "Certificate", name)
    assert certificate["metadata"]["namespace"] == namespace == NAMESPACE
    assert certificate["spec"]["secretName"] == "tidal-webhook-tls"


def test_base_webhook_configurations_have_no_injection() -> None:
    kinds = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    for obj in of_kind(render("base"), *kinds):
        assert INJECT not in obj["metadata"].get("annotations", {})


def test_serving_certificate_matches_what_tidal_certs_issues() -> None:
    objs = render("cert-manager")
    spec = find(objs, "Certificate", "tidal-webhook")["spec"]
    assert spec["dnsNames"] == service_dns_names("tidal-webhook", NAMESPACE)
    assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256
    assert "server auth" in spec["usages"]
    assert spec["renewBefore"] == "720h"  # 30 days, like `tidal-certs rotate --min-days 30`
    issuer = find(objs, "Issuer", spec["issuerRef"]["name"])
    ca_certificate = find(objs, "Certificate", issuer["spec"]["ca"]["secretName"])
    assert ca_certificate["spec"]["isCA"] is True
    root = find(objs, "Issuer", ca_certificate["spec"]["issuerRef"]["name"])
    assert root["spec"] == {"selfSigned": {}}


def test_cert_manager_objects_are_well_formed() -> None:
    custom = of_kind(render("cert-manager"), "Certificate", "Issuer")
    assert len(custom) == 4
    for obj in custom:
        assert obj["apiVersion"] == "cert-manager.io/v1"
        assert obj["metadata"]["namespace"] == NAMESPACE
        if obj["kind"] == "Certificate":
            assert set(obj["spec"]) >= {"secretName", "issuerRef", "duration", "privateKey"}
            assert obj["spec"]["issuerRef"]["kind"] == "Issuer"
        else:
            assert len(obj["spec"]) == 1 and next(iter(obj["spec"])) in {"selfSigned", "ca"}


def test_webhook_still_mounts_the_same_secret() -> None:
    deployment = find(render("cert-manager"), "Deployment", "tidal-webhook")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": "tidal-webhook-tls", "defaultMode": 0o440} in [
        v.get("secret") for v in volumes
    ]


def test_a_namespace_overlay_moves_every_reference(tmp_path) -> None:
    """docs/install.md: `namespace: other` moves objects, subjects and the webhook service."""
    base = os.path.relpath(MANIFESTS / "base", tmp_path)
    certs_job = os.path.relpath(MANIFESTS / "certs-job", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: other\nresources: [{base}, {certs_job}]\n"
    )
    result = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    objs = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    find(objs, "Namespace", "other")
    for obj in objs:
        assert obj["metadata"].get("namespace") in (None, "other")
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "other"
        for hook in obj.get("webhooks", []):
            assert hook["clientConfig"]["service"]["namespace"] == "other"
