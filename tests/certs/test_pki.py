"""pki.generate / renew_leaf: a chain that real TLS clients accept, for every service name."""

from __future__ import annotations

import datetime as dt
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs import checks, pki
from tests.certs.conftest import NAMESPACE, SERVICE, TlsServer, fetch


def test_service_dns_names() -> None:
    assert pki.service_dns_names("web", "prod") == [
        "web",
        "web.prod",
        "web.prod.svc",
        "web.prod.svc.cluster.local",
    ]


@pytest.mark.parametrize(
    "hostname", [*pki.service_dns_names(SERVICE, NAMESPACE), "localhost", "127.0.0.1"]
)
def test_client_verifies_chain_for_each_san(
    bundle: pki.Bundle, tls_server: TlsServer, hostname: str
) -> None:
    assert fetch(tls_server.port, bundle.ca_cert, hostname) == b"hello"


@pytest.mark.parametrize(
    "hostname", ["tidal-webhook.other", "evil.example", "tidal-webhook.tidal-system.svc.x"]
)
def test_client_rejects_names_not_in_the_certificate(
    bundle: pki.Bundle, tls_server: TlsServer, hostname: str
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        fetch(tls_server.port, bundle.ca_cert, hostname)


def test_client_rejects_a_foreign_ca(tmp_path, tls_server: TlsServer) -> None:
    other = pki.generate(tmp_path, SERVICE, NAMESPACE)
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(tls_server.port, other.ca_cert, f"{SERVICE}.{NAMESPACE}.svc")


def test_keys_are_not_readable_by_others(bundle: pki.Bundle) -> None:
    for key in (bundle.key, bundle.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.cert.stat().st_mode) & stat.S_IWOTH == 0


def test_ecdsa_p256_ca_and_leaf_with_requested_lifetimes(tmp_path) -> None:
    b = pki.generate(tmp_path, SERVICE, NAMESPACE, ca_days=100, leaf_days=10)
    ca, leaf = pki.load_certificate(b.ca_cert), pki.load_certificate(b.cert)
    for cert in (ca, leaf):
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = dt.datetime.now(dt.UTC)
    assert abs((ca.not_valid_after_utc - now) - dt.timedelta(days=100)) < dt.timedelta(minutes=1)
    assert abs((leaf.not_valid_after_utc - now) - dt.timedelta(days=10)) < dt.timedelta(minutes=1)
    assert checks.signed_by(leaf, ca)


def test_leaf_never_outlives_its_ca(tmp_path) -> None:
    b = pki.generate(tmp_path, SERVICE, NAMESPACE, ca_days=5, leaf_days=365)
    ca, leaf = pki.load_certificate(b.ca_cert), pki.load_certificate(b.cert)
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc


def test_renew_leaf_keeps_the_ca_and_changes_the_leaf(tmp_path) -> None:
    first = pki.generate(tmp_path, SERVICE, NAMESPACE)
    ca_before = first.ca_cert.read_bytes(), first.ca_key.read_bytes()
    leaf_before = first.cert.read_bytes(), first.key.read_bytes()

    renewed = pki.renew_leaf(tmp_path, SERVICE, NAMESPACE)

    assert (renewed.ca_cert.read_bytes(), renewed.ca_key.read_bytes()) == ca_before
    assert renewed.cert.read_bytes() != leaf_before[0]
    assert renewed.key.read_bytes() != leaf_before[1]
    ca, leaf = pki.load_certificate(renewed.ca_cert), pki.load_certificate(renewed.cert)
    assert checks.signed_by(leaf, ca)
    assert stat.S_IMODE(renewed.key.stat().st_mode) == 0o600


def test_renewed_leaf_serves_tls_with_the_old_ca(tmp_path) -> None:
    pki.generate(tmp_path, SERVICE, NAMESPACE, ips=["127.0.0.1"])
    renewed = pki.renew_leaf(tmp_path, SERVICE, NAMESPACE, ips=["127.0.0.1"])
    server = TlsServer(renewed.cert, renewed.key)
    try:
        assert fetch(server.port, renewed.ca_cert, f"{SERVICE}.{NAMESPACE}.svc") == b"hello"
    finally:
        server.close()


def test_key_files_are_replaced_not_chmodded_after_write(tmp_path) -> None:
    """A pre-existing world-readable key file ends up 0600 (the write never widens it)."""
    key = tmp_path / "tls.key"
    key.write_text("old")
    key.chmod(0o644)
    pki.generate(tmp_path, SERVICE, NAMESPACE)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_a_namespace_of_63_characters_still_gets_a_certificate(tmp_path) -> None:
    namespace = "n" * 63  # the longest a namespace may be: service.namespace.svc is 81
    bundle = pki.generate(tmp_path, "tidal-metrics", namespace)
    cert = pki.load_certificate(bundle.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"tidal-metrics.{namespace}.svc" in sans.get_values_for_type(x509.DNSName)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "tidal-metrics"
