"""The loopback PKI of the test control plane, and kubeconfigs built from it.

Two ECDSA P-256 CAs (the cluster's, and etcd's so that only the API server reaches etcd), the
serving and client leaves the components need, and the service-account signing key.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
SERVICE_IP = "127.1.0.1"  # the first address of the service range: the `kubernetes` Service
CLUSTER_NAME = "tidal"
ADMIN_USER = "tidal-admin"
FRONT_PROXY_CLIENT = "front-proxy-client"  # the aggregator's identity towards API extensions


@dataclass(frozen=True)
class Pki:
    """File layout of the control plane's certificates and keys (PEM)."""

    root: Path

    def path(self, name: str) -> Path:
        """A file of the PKI directory."""
        return self.root / name

    @property
    def ca_cert(self) -> Path:
        """CA of the API server: serving certificate and client certificates."""
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """Private key of the cluster CA (issues more client certificates)."""
        return self.root / "ca.key"


def _ec_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, orgs: Sequence[str] = ()) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_pem(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(common_name: str, days: int = 365) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _ec_key()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_certificate(
    ca_cert: Any,
    ca_key: Any,
    common_name: str,
    *,
    orgs: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    days: int = 365,
) -> tuple[bytes, bytes]:
    """A leaf certificate signed by ``ca``; returns (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _ec_key()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, orgs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return certificate_pem(cert), _key_pem(key)


def load_ca(pki: Pki, prefix: str = "ca") -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pki.path(f"{prefix}.crt").read_bytes())
    key = serialization.load_pem_private_key(pki.path(f"{prefix}.key").read_bytes(), None)
    return cert, key


def generate_pki(pki: Pki) -> None:
    """Three CAs (cluster, etcd, front proxy), their leaves and the service-account key."""
    from cryptography.hazmat.primitives import serialization

    pki.root.mkdir(parents=True, exist_ok=True)
    pki.root.chmod(0o700)
    for prefix, cn in (("ca", "tidal-cluster-ca"), ("etcd-ca", "tidal-etcd-ca"),
                       ("front-proxy-ca", "tidal-front-proxy-ca")):
        cert, key = make_ca(cn)
        write_pem(pki.path(f"{prefix}.crt"), certificate_pem(cert))
        write_pem(pki.path(f"{prefix}.key"), _key_pem(key), private=True)
    ca_cert, ca_key = load_ca(pki, "ca")
    etcd_ca_cert, etcd_ca_key = load_ca(pki, "etcd-ca")
    proxy_ca_cert, proxy_ca_key = load_ca(pki, "front-proxy-ca")
    apiserver_dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    leaves = {
        # name: (ca, common name, orgs, server, client, ips, dns)
        "apiserver": (ca_cert, ca_key, "kube-apiserver", (), True, False,
                      (LOOPBACK, SERVICE_IP), apiserver_dns),
        "admin": (ca_cert, ca_key, ADMIN_USER, ("system:masters",), False, True, (), ()),
        "controller-manager": (ca_cert, ca_key, "system:kube-controller-manager", (),
                               False, True, (), ()),
        "scheduler": (ca_cert, ca_key, "system:kube-scheduler", (), False, True, (), ()),
        "etcd-server": (etcd_ca_cert, etcd_ca_key, "etcd", (), True, True,
                        (LOOPBACK,), ("localhost",)),
        "apiserver-etcd-client": (etcd_ca_cert, etcd_ca_key, "kube-apiserver-etcd-client", (),
                                  False, True, (), ()),
        # The aggregator's client certificate towards aggregated API servers.
        "front-proxy-client": (proxy_ca_cert, proxy_ca_key, FRONT_PROXY_CLIENT, (), False, True,
                               (), ()),
    }  # fmt: skip
    for name, (icert, ikey, cn, orgs, server, client, ips, dns) in leaves.items():
        cert_pem, key_pem = issue_certificate(
            icert, ikey, cn, orgs=orgs, server=server, client=client, ips=ips, dns=dns
        )
        write_pem(pki.path(f"{name}.crt"), cert_pem)
        write_pem(pki.path(f"{name}.key"), key_pem, private=True)
    sa_key = _ec_key()
    write_pem(pki.path("sa.key"), _key_pem(sa_key), private=True)
    public = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_pem(pki.path("sa.pub"), public)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig_yaml(server: str, ca: Path, cert_pem: bytes, key_pem: bytes, user: str) -> str:
    """A self-contained kubeconfig (credentials embedded) as JSON, which is valid YAML."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": base64.b64encode(cert_pem).decode(),
                    "client-key-data": base64.b64encode(key_pem).decode(),
                },
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


def write_kubeconfig(path: Path, server: str, pki: Pki, leaf: str, user: str) -> None:
    """Write a kubeconfig for the client certificate ``leaf`` of ``pki`` (mode 0600)."""
    text = kubeconfig_yaml(
        server, pki.ca_cert, pki.path(f"{leaf}.crt").read_bytes(),
        pki.path(f"{leaf}.key").read_bytes(), user,
    )  # fmt: skip
    write_pem(path, text.encode(), private=True)
