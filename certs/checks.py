"""Inspect a serving certificate: who it is for, when it expires, and what is wrong with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from certs.pki import service_dns_names

DEFAULT_MIN_DAYS = 30


@dataclass(frozen=True)
class CertificateInfo:
    """What ``tidal-certs check`` prints about one certificate."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime

    def days_left(self, now: dt.datetime) -> float:
        """Days until expiry (negative once expired)."""
        return (self.not_after - now).total_seconds() / 86400

    def lines(self, now: dt.datetime) -> list[str]:
        """Human-readable summary, one fact per line."""
        return [
            f"subject:   {self.subject}",
            f"issuer:    {self.issuer}",
            f"dns names: {', '.join(self.dns_names) or '-'}",
            f"ips:       {', '.join(self.ip_addresses) or '-'}",
            f"not after: {self.not_after.isoformat()} ({self.days_left(now):.1f} days left)",
        ]


def describe(cert: x509.Certificate) -> CertificateInfo:
    """Extract subject, SANs and validity from ``cert``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=dns,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def problems(
    cert: x509.Certificate,
    service: str,
    namespace: str,
    *,
    min_days: float = DEFAULT_MIN_DAYS,
    ca: x509.Certificate | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Reasons the certificate cannot (or soon will not) serve ``service``; empty when fine."""
    now = now or dt.datetime.now(dt.UTC)
    info = describe(cert)
    found: list[str] = []
    left = info.days_left(now)
    if left <= 0:
        found.append(f"expired on {info.not_after.isoformat()}")
    elif left < min_days:
        found.append(f"expires in {left:.1f} days (< {min_days:g})")
    if info.not_before > now:
        found.append(f"not valid before {info.not_before.isoformat()}")
    missing = missing_names(info, service_dns_names(service, namespace))
    if missing:
        found.append(f"does not cover {', '.join(missing)}")
    if ca is not None and not signed_by(cert, ca):
        found.append(f"not signed by the CA {ca.subject.rfc4514_string()}")
    return found


def missing_names(info: CertificateInfo, names: Sequence[str]) -> list[str]:
    """The DNS names in ``names`` that the certificate's SANs do not list (exact match)."""
    present = {name.lower() for name in info.dns_names}
    return [name for name in names if name.lower() not in present]


def extra_sans(info: CertificateInfo, service: str, namespace: str) -> tuple[list[str], list[str]]:
    """The SANs beyond the service names, as (ips, dns): kept when the leaf is renewed."""
    standard = {name.lower() for name in service_dns_names(service, namespace)}
    dns = [name for name in info.dns_names if name.lower() not in standard]
    return list(info.ip_addresses), dns


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``ca`` issued ``cert`` (issuer name matches and the signature verifies)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_matches(cert: x509.Certificate, key_pem: bytes) -> bool:
    """True when ``key_pem`` is the private key of ``cert``."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    return key.public_key() == cert.public_key()


def still_valid(pem: bytes, now: dt.datetime) -> list[x509.Certificate]:
    """The certificates in a PEM bundle that have not expired (unparsable input: none)."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []
    return [cert for cert in certs if cert.not_valid_after_utc > now]


def verifies(cert: x509.Certificate, ca_bundle: bytes) -> bool:
    """True when some certificate of the PEM ``ca_bundle`` issued ``cert``."""
    try:
        cas = x509.load_pem_x509_certificates(ca_bundle)
    except ValueError:
        return False
    return any(signed_by(cert, ca) for ca in cas)
