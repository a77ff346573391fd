"""tidal-certs install: the objects it sends, idempotence, and in-cluster rotation."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import jsonpatch
import pytest
import yaml

from certs import checks, objects, pki
from certs.cli import main
from certs.cluster import connect
from certs.install import (
    PREVIOUS_CA,
    InstallSettings,
    inspect_cluster,
    install_bundle,
    sync_in_cluster,
)
from tests.certs.conftest import NAMESPACE, SERVICE
from tests.certs.fake_apiserver import (
    MUTATING,
    VALIDATING,
    FakeApiServer,
    FakeCluster,
    webhook_configuration,
)

SETTINGS = InstallSettings()


@pytest.fixture
def cluster() -> FakeCluster:
    fake = FakeCluster()
    fake.add_configuration(webhook_configuration(MUTATING, "tidal-webhook", "pods.tidal.dev"))
    fake.add_configuration(
        webhook_configuration(VALIDATING, "tidal-webhook", "autoscalers.tidal.dev", "second.x")
    )
    return fake


def _decoded(secret: dict) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def _ca_bundles(cluster: FakeCluster) -> list[bytes]:
    return [
        base64.b64decode(hook["clientConfig"]["caBundle"])
        for config in cluster.configurations.values()
        for hook in config["webhooks"]
    ]


def test_install_creates_tls_secret_ca_secret_and_sets_every_ca_bundle(
    cluster: FakeCluster, bundle: pki.Bundle
) -> None:
    actions = install_bundle(cluster, bundle, SETTINGS)

    tls = cluster.secrets[(NAMESPACE, "tidal-webhook-tls")]
    assert tls["type"] == "kubernetes.io/tls"
    assert _decoded(tls) == {
        "ca.crt": bundle.ca_cert.read_bytes(),
        "tls.crt": bundle.cert.read_bytes(),
        "tls.key": bundle.key.read_bytes(),
    }
    assert tls["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tidal-certs"
    ca = cluster.secrets[(NAMESPACE, "tidal-webhook-ca")]
    assert ca["type"] == "Opaque"
    assert _decoded(ca) == {
        "ca.crt": bundle.ca_cert.read_bytes(),
        "ca.key": bundle.ca_key.read_bytes(),
    }
    assert _ca_bundles(cluster) == [bundle.ca_cert.read_bytes()] * 3
    assert actions == [
        f"secret {NAMESPACE}/tidal-webhook-tls created",
        f"secret {NAMESPACE}/tidal-webhook-ca created",
        "MutatingWebhookConfiguration tidal-webhook caBundle set",
        "ValidatingWebhookConfiguration tidal-webhook caBundle set",
    ]


def test_install_twice_writes_nothing_the_second_time(cluster, bundle) -> None:
    install_bundle(cluster, bundle, SETTINGS)
    writes = len(cluster.writes)
    actions = install_bundle(cluster, bundle, SETTINGS)
    assert len(cluster.writes) == writes
    assert all(action.endswith("unchanged") for action in actions), actions


def test_install_updates_changed_data_and_keeps_foreign_labels(cluster, bundle, tmp_path) -> None:
    install_bundle(cluster, bundle, SETTINGS)
    cluster.secrets[(NAMESPACE, "tidal-webhook-tls")]["metadata"]["labels"]["team"] = "ops"
    other = pki.generate(tmp_path, SERVICE, NAMESPACE)
    actions = install_bundle(cluster, other, SETTINGS)
    tls = cluster.secrets[(NAMESPACE, "tidal-webhook-tls")]
    assert _decoded(tls)["tls.crt"] == other.cert.read_bytes()
    assert tls["metadata"]["labels"]["team"] == "ops"
    assert f"secret {NAMESPACE}/tidal-webhook-tls updated" in actions
    assert _ca_bundles(cluster) == [other.ca_cert.read_bytes()] * 3


def test_install_replaces_a_secret_of_the_wrong_type(cluster, bundle) -> None:
    cluster.secrets[(NAMESPACE, "tidal-webhook-tls")] = objects.secret(
        "tidal-webhook-tls", NAMESPACE, "Opaque", {"junk": b"x"}
    )
    install_bundle(cluster, bundle, SETTINGS)
    assert ("delete", "secret/tidal-webhook-tls") in cluster.writes
    assert cluster.secrets[(NAMESPACE, "tidal-webhook-tls")]["type"] == "kubernetes.io/tls"


def test_install_without_webhook_configuration_names_what_is_missing(bundle) -> None:
    with pytest.raises(LookupError, match="MutatingWebhookConfiguration tidal-webhook not found"):
        install_bundle(FakeCluster(), bundle, SETTINGS)


def test_install_can_skip_a_configuration_and_the_ca_secret(bundle) -> None:
    fake = FakeCluster()
    fake.add_configuration(webhook_configuration(VALIDATING, "v", "autoscalers.tidal.dev"))
    settings = InstallSettings(mutating="", validating="v", store_ca=False)
    install_bundle(fake, bundle, settings)
    assert (NAMESPACE, "tidal-webhook-ca") not in fake.secrets
    assert _ca_bundles(fake) == [bundle.ca_cert.read_bytes()]


def test_ca_bundle_patch_is_guarded_against_reordered_webhooks() -> None:
    config = webhook_configuration(VALIDATING, "v", "a.tidal.dev", "b.tidal.dev")
    patch = objects.ca_bundle_patch(config, b"CA")
    assert [op["op"] for op in patch] == ["test", "add", "test", "add"]
    reordered = webhook_configuration(VALIDATING, "v", "b.tidal.dev", "a.tidal.dev")
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(reordered, patch)
    patched = jsonpatch.apply_patch(config, patch)
    assert objects.ca_bundle_patch(patched, b"CA") == []


def test_ca_bundle_patch_creates_a_missing_client_config() -> None:
    config = {"webhooks": [{"name": "a"}]}
    patched = jsonpatch.apply_patch(config, objects.ca_bundle_patch(config, b"CA"))
    assert patched["webhooks"][0]["clientConfig"]["caBundle"] == base64.b64encode(b"CA").decode()


def _leaf(cluster: FakeCluster) -> bytes:
    return _decoded(cluster.secrets[(NAMESPACE, "tidal-webhook-tls")])["tls.crt"]


def _ca(cluster: FakeCluster) -> bytes:
    return _decoded(cluster.secrets[(NAMESPACE, "tidal-webhook-ca")])["ca.crt"]


def test_sync_in_cluster_generates_once_then_changes_nothing(cluster) -> None:
    first = sync_in_cluster(cluster, SETTINGS)
    assert first[0] == "generated a new CA and serving certificate: no CA yet"
    leaf, ca = _leaf(cluster), _ca(cluster)
    tls = _decoded(cluster.secrets[(NAMESPACE, "tidal-webhook-tls")])
    assert tls["ca.crt"] == ca
    assert checks.problems(pki.x509.load_pem_x509_certificate(leaf), SERVICE, NAMESPACE) == []

    writes = len(cluster.writes)
    second = sync_in_cluster(cluster, SETTINGS)
    assert len(cluster.writes) == writes, second
    assert (_leaf(cluster), _ca(cluster)) == (leaf, ca)


def test_sync_in_cluster_renews_an_expiring_leaf_and_keeps_the_ca(cluster) -> None:
    sync_in_cluster(cluster, SETTINGS)
    leaf, ca = _leaf(cluster), _ca(cluster)
    in_340_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    actions = sync_in_cluster(cluster, SETTINGS, now=lambda: in_340_days)
    assert actions[0].startswith("renewed the serving certificate: expires in")
    assert _ca(cluster) == ca and _leaf(cluster) != leaf
    assert _ca_bundles(cluster) == [ca] * 3
    new_leaf = pki.x509.load_pem_x509_certificate(_leaf(cluster))
    assert checks.signed_by(new_leaf, pki.x509.load_pem_x509_certificate(ca))


def test_sync_in_cluster_force_and_wrong_names_renew(cluster) -> None:
    sync_in_cluster(cluster, SETTINGS)
    leaf = _leaf(cluster)
    sync_in_cluster(cluster, SETTINGS, force_rotate=True)
    assert _leaf(cluster) != leaf
    leaf = _leaf(cluster)
    moved = InstallSettings(service="tidal-webhook-v2")
    actions = sync_in_cluster(cluster, moved)
    assert "does not cover tidal-webhook-v2" in actions[0]
    assert _leaf(cluster) != leaf


def test_sync_in_cluster_renews_a_leaf_whose_key_does_not_match(cluster) -> None:
    sync_in_cluster(cluster, SETTINGS)
    leaf = _leaf(cluster)
    secret = cluster.secrets[(NAMESPACE, "tidal-webhook-tls")]
    secret["data"]["tls.key"] = cluster.secrets[(NAMESPACE, "tidal-webhook-ca")]["data"]["ca.key"]
    actions = sync_in_cluster(cluster, SETTINGS)
    assert "tls.key does not match tls.crt" in actions[0]
    assert _leaf(cluster) != leaf


def test_expiring_ca_is_replaced_and_the_old_one_trusted_until_it_expires(
    cluster, tmp_path
) -> None:
    short_lived = pki.generate(tmp_path, SERVICE, NAMESPACE, ca_days=20, leaf_days=20)
    install_bundle(cluster, short_lived, SETTINGS)
    old_ca = _ca(cluster)

    actions = sync_in_cluster(cluster, SETTINGS)
    assert actions[0].startswith("generated a new CA and serving certificate: the CA expires in")
    new_ca = _ca(cluster)
    assert new_ca != old_ca
    # Pods still serving the old leaf stay trusted: caBundle holds the new and the old CA.
    assert _ca_bundles(cluster) == [new_ca + old_ca] * 3
    assert _decoded(cluster.secrets[(NAMESPACE, "tidal-webhook-ca")])[PREVIOUS_CA] == old_ca
    leaf = pki.x509.load_pem_x509_certificate(_leaf(cluster))
    assert checks.verifies(leaf, new_ca) and not checks.verifies(leaf, old_ca)

    writes = len(cluster.writes)
    sync_in_cluster(cluster, SETTINGS)
    assert len(cluster.writes) == writes  # stable while the old CA is still valid

    in_21_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=21)
    sync_in_cluster(cluster, SETTINGS, now=lambda: in_21_days)
    assert _ca_bundles(cluster) == [new_ca] * 3
    assert PREVIOUS_CA not in cluster.secrets[(NAMESPACE, "tidal-webhook-ca")]["data"]
    assert _ca(cluster) == new_ca


def test_broken_ca_secret_is_replaced(cluster) -> None:
    sync_in_cluster(cluster, SETTINGS)
    old_ca = _ca(cluster)
    cluster.secrets[(NAMESPACE, "tidal-webhook-ca")]["data"]["ca.crt"] = objects.b64(b"junk")
    actions = sync_in_cluster(cluster, SETTINGS)
    assert actions[0].endswith("the stored CA does not parse")
    assert _ca(cluster) != old_ca
    assert _ca_bundles(cluster) == [_ca(cluster)] * 3  # junk is never trusted


def test_inspect_cluster_finds_a_stale_ca_bundle(cluster, bundle, tmp_path) -> None:
    assert inspect_cluster(cluster, SETTINGS)[1] == [
        f"secret {NAMESPACE}/tidal-webhook-tls has no tls.crt"
    ]
    install_bundle(cluster, bundle, SETTINGS)
    info, problems = inspect_cluster(cluster, SETTINGS)
    assert problems == [] and info is not None
    assert info.subject == f"CN={SERVICE}.{NAMESPACE}.svc"

    other = pki.generate(tmp_path, SERVICE, NAMESPACE)
    config = cluster.configurations[(VALIDATING, "tidal-webhook")]
    config["webhooks"][1]["clientConfig"]["caBundle"] = objects.b64(other.ca_cert.read_bytes())
    _, problems = inspect_cluster(cluster, SETTINGS)
    assert problems == [
        f"{VALIDATING} tidal-webhook: caBundle of second.x does not verify the certificate"
    ]


@pytest.fixture
def apiserver(cluster: FakeCluster) -> Iterator[FakeApiServer]:
    server = FakeApiServer(cluster)
    yield server
    server.close()


def test_kubernetes_client_path_against_an_http_apiserver(
    apiserver: FakeApiServer, cluster: FakeCluster, bundle: pki.Bundle, tmp_path
) -> None:
    """The real ``kubernetes`` client: right paths, 404 handling, JSON-patch content type."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    real = connect(str(kubeconfig))
    assert real.read_secret(NAMESPACE, "absent") is None
    install_bundle(real, bundle, SETTINGS)
    assert _decoded(cluster.secrets[(NAMESPACE, "tidal-webhook-tls")])["tls.key"] == (
        bundle.key.read_bytes()
    )
    assert _ca_bundles(cluster) == [bundle.ca_cert.read_bytes()] * 3
    patches = {ctype for method, _, ctype in apiserver.requests if method == "PATCH"}
    assert patches == {"application/json-patch+json"}

    # The CLI end to end: in-cluster mode (CA kept in the cluster), run twice.
    assert main(["install", "--kubeconfig", str(kubeconfig)]) == 0
    writes = len(cluster.writes)
    assert main(["install", "--kubeconfig", str(kubeconfig)]) == 0
    assert len(cluster.writes) == writes
    assert main(["rotate", "--in-cluster", "--force", "--kubeconfig", str(kubeconfig)]) == 0
    assert len(cluster.writes) > writes


def test_cli_check_in_cluster(apiserver, cluster, tmp_path, capsys) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    check = ["check", "--in-cluster", "--kubeconfig", str(kubeconfig)]
    assert main(check) == 1
    assert "has no tls.crt" in capsys.readouterr().out
    assert main(["install", "--kubeconfig", str(kubeconfig)]) == 0
    capsys.readouterr()
    assert main(check) == 0
    out = capsys.readouterr().out
    assert "subject:   CN=tidal-webhook.tidal-system.svc" in out and out.rstrip().endswith("OK")
    assert main([*check, "--min-days", "400"]) == 1


def test_cli_install_from_a_directory(apiserver, cluster, tmp_path, capsys) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    main(["generate", "--out", str(tmp_path / "pki")])
    args = ["install", "--dir", str(tmp_path / "pki"), "--kubeconfig", str(kubeconfig)]
    assert main(args) == 0
    assert "caBundle set" in capsys.readouterr().out
    assert main(args) == 0
    assert "set" not in capsys.readouterr().out.replace("unchanged", "")
    assert _ca_bundles(cluster) == [(tmp_path / "pki" / "ca.crt").read_bytes()] * 3


def test_cli_reports_api_errors_without_a_traceback(apiserver, tmp_path, capsys) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    apiserver.forbidden_secrets.add("tidal-webhook-ca")
    assert main(["install", "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tidal-certs: error: read secret tidal-system/tidal-webhook-ca: 403")
    assert 'secrets "tidal-webhook-ca" is forbidden' in err


def test_cli_reports_a_bad_kubeconfig(tmp_path, capsys) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    assert main(["install", "--kubeconfig", str(kubeconfig)]) == 2
    assert "cannot load the cluster configuration" in capsys.readouterr().err
