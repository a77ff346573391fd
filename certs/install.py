"""Put certificates into a cluster: the serving Secret, the CA Secret and the caBundle of the
webhooks and APIServices they serve.

Every step reads first and writes only what differs, so running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs import checks, objects, pki
from certs.cluster import Cluster, WebhookKind

PREVIOUS_CA = "previous-ca.crt"  # key in the CA Secret: the CA replaced last, trusted until expiry
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class InstallSettings:
    """Names of everything ``tidal-certs install`` touches."""

    namespace: str = "tidal-system"
    service: str = "tidal-webhook"
    tls_secret: str = "tidal-webhook-tls"
    ca_secret: str = "tidal-webhook-ca"
    mutating: str = "tidal-webhook"  # "" skips the MutatingWebhookConfiguration
    validating: str = "tidal-webhook"  # "" skips the ValidatingWebhookConfiguration
    store_ca: bool = True  # keep the CA key in the cluster (needed for in-cluster rotation)
    apiservices: tuple[str, ...] = ()  # APIServices served by this certificate (caBundle)

    def webhook_configurations(self) -> list[tuple[WebhookKind, str]]:
        """The (kind, name) of each configuration to patch."""
        named: list[tuple[WebhookKind, str]] = [
            ("MutatingWebhookConfiguration", self.mutating),
            ("ValidatingWebhookConfiguration", self.validating),
        ]
        return [(kind, name) for kind, name in named if name]


def install_bundle(
    cluster: Cluster,
    bundle: pki.Bundle,
    settings: InstallSettings,
    *,
    previous_ca: bytes = b"",
    now: Clock = _utcnow,
) -> list[str]:
    """Upload ``bundle`` and patch the webhook configurations; return what was done.

    ``previous_ca`` (a replaced CA) stays in ``caBundle`` next to the new CA until it expires,
    so webhook pods still serving a certificate of the old CA are trusted until they reload.
    """
    ca = bundle.ca_cert.read_bytes()
    previous = b"".join(
        cert.public_bytes(serialization.Encoding.PEM)
        for cert in checks.still_valid(previous_ca, now())
    )
    actions: list[str] = []
    tls = objects.tls_secret(
        settings.tls_secret,
        settings.namespace,
        ca=ca,
        cert=bundle.cert.read_bytes(),
        key=bundle.key.read_bytes(),
    )
    actions.append(apply_secret(cluster, tls))
    if settings.store_ca and bundle.ca_key.exists():
        stored = objects.ca_secret(
            settings.ca_secret, settings.namespace, ca=ca, ca_key=bundle.ca_key.read_bytes()
        )
        if previous:
            stored["data"][PREVIOUS_CA] = objects.b64(previous)
        actions.append(apply_secret(cluster, stored))
    for kind, name in settings.webhook_configurations():
        actions.append(patch_ca_bundle(cluster, kind, name, ca + previous))
    for name in settings.apiservices:
        actions.append(patch_apiservice_ca(cluster, name, ca + previous))
    return actions


def patch_apiservice_ca(cluster: Cluster, name: str, ca: bytes) -> str:
    """Set the APIService's ``caBundle`` (the aggregator verifies the server with it)."""
    apiservice = cluster.read_apiservice(name)
    if apiservice is None:
        raise LookupError(f"APIService {name} not found: apply the manifests first")
    patch = objects.apiservice_ca_patch(apiservice, ca)
    if not patch:
        return f"APIService {name} caBundle unchanged"
    cluster.patch_apiservice(name, patch)
    return f"APIService {name} caBundle set"


def apply_secret(cluster: Cluster, desired: dict) -> str:
    """Create the Secret, or patch it when its data or labels differ."""
    meta = desired["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    existing = cluster.read_secret(namespace, name)
    where = f"secret {namespace}/{name}"
    if existing is not None and existing.get("type", objects.OPAQUE_SECRET_TYPE) != desired["type"]:
        cluster.delete_secret(namespace, name)  # a Secret's type is immutable
        existing = None
    if existing is None:
        cluster.create_secret(namespace, desired)
        return f"{where} created"
    patch = objects.secret_patch(existing, desired)
    if not patch:
        return f"{where} unchanged"
    cluster.patch_secret(namespace, name, patch)
    return f"{where} updated"


def patch_ca_bundle(cluster: Cluster, kind: WebhookKind, name: str, ca: bytes) -> str:
    """Set ``caBundle`` on every webhook of the named configuration."""
    where = f"{kind} {name}"
    configuration = cluster.read_webhook_configuration(kind, name)
    if configuration is None:
        raise LookupError(f"{where} not found: apply the manifests first")
    patch = objects.ca_bundle_patch(configuration, ca)
    if not patch:
        return f"{where} caBundle unchanged"
    cluster.patch_webhook_configuration(kind, name, patch)
    return f"{where} caBundle set"


def sync_in_cluster(
    cluster: Cluster,
    settings: InstallSettings,
    *,
    min_days: float = checks.DEFAULT_MIN_DAYS,
    force_rotate: bool = False,
    now: Clock = _utcnow,
) -> list[str]:
    """Keep the CA in the cluster: create it once, renew the leaf when needed, then install.

    The leaf is renewed when it is missing, expires within ``min_days``, does not cover the
    service names, is not signed by the stored CA or does not match its key, or when
    ``force_rotate`` is set. The CA is replaced (with a new leaf) when it is missing, broken or
    expires within ``min_days``; the old one stays trusted in ``caBundle`` until it expires.
    """
    stored_ca = objects.secret_files(cluster.read_secret(settings.namespace, settings.ca_secret))
    stored_tls = objects.secret_files(cluster.read_secret(settings.namespace, settings.tls_secret))
    with tempfile.TemporaryDirectory(prefix="tidal-certs-") as tmp:
        out = Path(tmp)
        ca_reasons = _ca_reasons(stored_ca, min_days, now())
        if ca_reasons:
            bundle = pki.generate(out, settings.service, settings.namespace)
            actions = ["generated a new CA and serving certificate: " + "; ".join(ca_reasons)]
            previous = stored_ca.get("ca.crt", b"")
        else:
            bundle = pki.Bundle.at(out)
            _write(bundle.ca_cert, stored_ca["ca.crt"])
            _write(bundle.ca_key, stored_ca["ca.key"])
            previous = stored_ca.get(PREVIOUS_CA, b"")
            reasons = _leaf_reasons(stored_tls, bundle, settings, min_days, now())
            if force_rotate:
                reasons.append("rotation forced")
            if reasons:
                pki.renew_leaf(out, settings.service, settings.namespace)
                actions = ["renewed the serving certificate: " + "; ".join(reasons)]
            else:
                _write(bundle.cert, stored_tls["tls.crt"])
                _write(bundle.key, stored_tls["tls.key"])
                actions = []
        return actions + install_bundle(cluster, bundle, settings, previous_ca=previous, now=now)


def _ca_reasons(stored: dict[str, bytes], min_days: float, now: dt.datetime) -> list[str]:
    if not {"ca.crt", "ca.key"} <= stored.keys():
        return ["no CA yet"]
    try:
        ca = x509.load_pem_x509_certificate(stored["ca.crt"])
    except ValueError:
        return ["the stored CA does not parse"]
    if not checks.key_matches(ca, stored["ca.key"]):
        return ["the stored CA key does not match its certificate"]
    left = checks.describe(ca).days_left(now)
    if left < min_days:
        return [f"the CA expires in {left:.1f} days (< {min_days:g})"]
    return []


def _leaf_reasons(
    stored_tls: dict[str, bytes],
    bundle: pki.Bundle,
    settings: InstallSettings,
    min_days: float,
    now: dt.datetime,
) -> list[str]:
    if not {"tls.crt", "tls.key"} <= stored_tls.keys():
        return ["no serving certificate yet"]
    try:
        leaf = x509.load_pem_x509_certificate(stored_tls["tls.crt"])
    except ValueError:
        return ["the stored serving certificate does not parse"]
    ca = pki.load_certificate(bundle.ca_cert)
    reasons = checks.problems(
        leaf, settings.service, settings.namespace, min_days=min_days, ca=ca, now=now
    )
    if not checks.key_matches(leaf, stored_tls["tls.key"]):
        reasons.append("tls.key does not match tls.crt")
    return reasons


def _write(path: Path, data: bytes) -> None:
    pki.write_file(path, data, mode=pki.KEY_MODE)


def inspect_cluster(
    cluster: Cluster,
    settings: InstallSettings,
    *,
    min_days: float = checks.DEFAULT_MIN_DAYS,
    now: Clock = _utcnow,
) -> tuple[checks.CertificateInfo | None, list[str]]:
    """The serving certificate in the cluster, and everything wrong with it or with caBundle."""
    where = f"secret {settings.namespace}/{settings.tls_secret}"
    files = objects.secret_files(cluster.read_secret(settings.namespace, settings.tls_secret))
    if "tls.crt" not in files:
        return None, [f"{where} has no tls.crt"]
    leaf = x509.load_pem_x509_certificate(files["tls.crt"])
    ca = x509.load_pem_x509_certificate(files["ca.crt"]) if "ca.crt" in files else None
    found = checks.problems(
        leaf, settings.service, settings.namespace, min_days=min_days, ca=ca, now=now()
    )
    if not checks.key_matches(leaf, files.get("tls.key", b"")):
        found.append(f"{where}: tls.key does not match tls.crt")
    for kind, name in settings.webhook_configurations():
        configuration = cluster.read_webhook_configuration(kind, name)
        if configuration is None:
            found.append(f"{kind} {name} not found")
            continue
        for webhook in configuration.get("webhooks") or []:
            bundle = (webhook.get("clientConfig") or {}).get("caBundle", "")
            if not checks.verifies(leaf, objects.unb64(bundle)):
                found.append(
                    f"{kind} {name}: caBundle of {webhook['name']} does not verify the certificate"
                )
    return checks.describe(leaf), found
