"""The harness's pure parts, without a cluster: PKI, kubeconfigs, cache keys, CI policy."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e import conftest, gobuild
from tests.e2e.cluster import ControlPlane, KubeCluster
from tests.e2e.pki import Pki, generate_pki, write_kubeconfig


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_chains_and_names(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    generate_pki(pki)
    ca, etcd_ca = _cert(pki.ca_cert), _cert(pki.path("etcd-ca.crt"))
    serving = _cert(pki.path("apiserver.crt"))
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    admin = _cert(pki.path("admin.crt"))
    admin.verify_directly_issued_by(ca)
    orgs = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    _cert(pki.path("apiserver-etcd-client.crt")).verify_directly_issued_by(etcd_ca)
    assert (pki.path("sa.key").stat().st_mode & 0o777) == 0o600


def test_kubeconfig_round_trip(tmp_path: Path) -> None:
    plane = ControlPlane.in_dir(tmp_path)
    generate_pki(plane.pki)
    write_kubeconfig(plane.kubeconfig, "https://127.0.0.1:6443", plane.pki, "admin", "me")
    config = yaml.safe_load(plane.kubeconfig.read_text())
    assert config["users"][0]["user"]["client-certificate-data"]
    attached = KubeCluster.from_kubeconfig(plane.kubeconfig)
    assert attached.server == "https://127.0.0.1:6443"
    assert attached.pki == plane.pki  # found beside the kubeconfig: user certificates work
    alice = yaml.safe_load(attached.user_kubeconfig("alice", ["devs"]).read_text())
    assert alice["users"][0]["name"] == "alice"


def test_build_key_follows_sources(tmp_path: Path) -> None:
    src = tmp_path / "controlplane"
    shutil.copytree(gobuild.CONTROLPLANE_SRC, src)
    key = gobuild.build_key(src)
    assert key == gobuild.build_key(gobuild.CONTROLPLANE_SRC)
    (src / "go.sum").write_text((src / "go.sum").read_text() + "\n")
    assert gobuild.build_key(src) != key


def test_unavailable_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no go"):
        conftest._unavailable("no go")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no go"):
        conftest._unavailable("no go")


def test_missing_toolchain_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIDAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gobuild, "GO_FALLBACKS", ())
    with pytest.raises(gobuild.ToolchainMissing):
        gobuild.ensure_built()
