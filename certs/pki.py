"""A tiny PKI for the webhook: an ECDSA P-256 CA and a serving leaf certificate.

Files written to ``out_dir``: ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key`` (PEM; keys 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
LEAF_CERT = "tls.crt"
LEAF_KEY = "tls.key"
KEY_MODE = 0o600
CA_COMMON_NAME = "tidal-webhook-ca"
# Backdate validity a little so that clocks slightly behind ours still accept the certificate.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Bundle:
    """Paths of the four PEM files of one generated PKI."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path

    @classmethod
    def at(cls, out_dir: Path) -> Bundle:
        """The bundle's file paths inside ``out_dir`` (whether or not they exist)."""
        out_dir = Path(out_dir)
        return cls(out_dir / CA_CERT, out_dir / CA_KEY, out_dir / LEAF_CERT, out_dir / LEAF_KEY)


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The DNS names under which a Service is reached from inside a cluster."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def generate(
    out_dir: Path,
    service: str,
    namespace: str,
    *,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    ca_days: int = 3650,
    leaf_days: int = 365,
) -> Bundle:
    """Create a new CA and a serving certificate for ``service`` in ``namespace``."""
    bundle = Bundle.at(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, days=ca_days)
    _write_key(bundle.ca_key, ca_key)
    _write_cert(bundle.ca_cert, ca_cert)
    _issue_leaf(bundle, ca_cert, ca_key, service, namespace, ips=ips, dns=dns, days=leaf_days)
    return bundle


def renew_leaf(
    out_dir: Path,
    service: str,
    namespace: str,
    *,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    leaf_days: int = 365,
) -> Bundle:
    """Issue a fresh leaf key and certificate signed by the existing CA in ``out_dir``."""
    bundle = Bundle.at(out_dir)
    ca_cert = load_certificate(bundle.ca_cert)
    ca_key = serialization.load_pem_private_key(bundle.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{bundle.ca_key}: expected an ECDSA private key")
    _issue_leaf(bundle, ca_cert, ca_key, service, namespace, ips=ips, dns=dns, days=leaf_days)
    return bundle


def load_certificate(path: Path) -> x509.Certificate:
    """Read the first PEM certificate in ``path``."""
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, *, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    now = _now()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    bundle: Bundle,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    service: str,
    namespace: str,
    *,
    ips: Sequence[str],
    dns: Sequence[str],
    days: int,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = _unique([*service_dns_names(service, namespace), *dns])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(names))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(bundle.key, key)
    _write_cert(bundle.cert, cert)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _common_name(names: Sequence[str]) -> str:
    """``service.namespace.svc`` when it fits the 64 characters a common name may have (a
    namespace may have 63); else the service name. Clients check the SANs, not the CN."""
    return names[2] if len(names[2]) <= 64 else names[0][:64]


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_file(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(path, pem, mode=KEY_MODE)


def write_file(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` atomically with ``data``, created with ``mode`` (never briefly readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
    os.replace(tmp, path)
