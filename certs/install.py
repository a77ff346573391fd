"""Put certificates into a cluster: the serving Secret, the CA Secret and the webhooks' caBundle.

Every step reads first and writes only what differs, so running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certs import checks, objects, pki
from certs.cluster import Cluster, WebhookKind


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


def install_bundle(cluster: Cluster, bundle: pki.Bundle, settings: InstallSettings) -> list[str]:
    """Upload ``bundle`` and patch the webhook configurations; return what was done."""
    ca = bundle.ca_cert.read_bytes()
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
        actions.append(apply_secret(cluster, stored))
    kinds: list[tuple[WebhookKind, str]] = [
        ("MutatingWebhookConfiguration", settings.mutating),
        ("ValidatingWebhookConfiguration", settings.validating),
    ]
    for kind, name in kinds:
        if name:
            actions.append(patch_ca_bundle(cluster, kind, name, ca))
    return actions


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
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[str]:
    """Keep the CA in the cluster: create it once, renew the leaf when needed, then install.

    The leaf is renewed when it is missing, expires within ``min_days``, does not cover the
    service names, is not signed by the stored CA, or when ``force_rotate`` is set.
    """
    stored_ca = objects.secret_files(cluster.read_secret(settings.namespace, settings.ca_secret))
    stored_tls = objects.secret_files(cluster.read_secret(settings.namespace, settings.tls_secret))
    with tempfile.TemporaryDirectory(prefix="tidal-certs-") as tmp:
        out = Path(tmp)
        actions: list[str] = []
        if not {"ca.crt", "ca.key"} <= stored_ca.keys():
            bundle = pki.generate(out, settings.service, settings.namespace)
            actions.append("generated a new CA and serving certificate")
        else:
            bundle = pki.Bundle.at(out)
            _write(bundle.ca_cert, stored_ca["ca.crt"])
            _write(bundle.ca_key, stored_ca["ca.key"])
            reasons = _leaf_reasons(stored_tls, bundle, settings, min_days, now())
            if force_rotate:
                reasons.append("rotation forced")
            if reasons:
                pki.renew_leaf(out, settings.service, settings.namespace)
                actions.append("renewed the serving certificate: " + "; ".join(reasons))
            else:
                _write(bundle.cert, stored_tls["tls.crt"])
                _write(bundle.key, stored_tls["tls.key"])
        return actions + install_bundle(cluster, bundle, settings)


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
    return checks.problems(
        leaf, settings.service, settings.namespace, min_days=min_days, ca=ca, now=now
    )


def _write(path: Path, data: bytes) -> None:
    pki.write_file(path, data, mode=pki.KEY_MODE)
