"""The Kubernetes objects and JSON patches that ``tidal-certs install`` sends (pure functions)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

TLS_SECRET_TYPE = "kubernetes.io/tls"
OPAQUE_SECRET_TYPE = "Opaque"
MANAGED_BY = {"app.kubernetes.io/name": "tidal", "app.kubernetes.io/managed-by": "tidal-certs"}

JsonPatch = list[dict[str, Any]]


def b64(data: bytes) -> str:
    """Base64 text as Secret ``data`` and ``caBundle`` carry it."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def secret(name: str, namespace: str, secret_type: str, files: Mapping[str, bytes]) -> dict:
    """A Secret manifest holding ``files`` (name -> raw bytes)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "type": secret_type,
        "data": {key: b64(value) for key, value in sorted(files.items())},
    }


def tls_secret(name: str, namespace: str, *, ca: bytes, cert: bytes, key: bytes) -> dict:
    """The serving Secret the webhook mounts: ``tls.crt``, ``tls.key`` and ``ca.crt``."""
    files = {"ca.crt": ca, "tls.crt": cert, "tls.key": key}
    return secret(name, namespace, TLS_SECRET_TYPE, files)


def ca_secret(name: str, namespace: str, *, ca: bytes, ca_key: bytes) -> dict:
    """The Secret keeping the CA so that in-cluster rotation can sign a new leaf."""
    return secret(name, namespace, OPAQUE_SECRET_TYPE, {"ca.crt": ca, "ca.key": ca_key})


def secret_files(obj: Mapping[str, Any] | None) -> dict[str, bytes]:
    """Decode a Secret's ``data`` (empty for a missing Secret)."""
    data = (obj or {}).get("data") or {}
    return {key: unb64(value) for key, value in data.items()}


def secret_patch(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> JsonPatch:
    """JSON patch turning ``existing`` into ``desired`` (data and our labels); [] when equal."""
    patch: JsonPatch = []
    if (existing.get("data") or {}) != desired["data"]:
        patch.append({"op": "add", "path": "/data", "value": desired["data"]})
    labels = (existing.get("metadata") or {}).get("labels")
    wanted = desired["metadata"]["labels"]
    if labels is None:
        patch.append({"op": "add", "path": "/metadata/labels", "value": wanted})
    else:
        for key, value in wanted.items():
            if labels.get(key) != value:
                path = "/metadata/labels/" + key.replace("~", "~0").replace("/", "~1")
                patch.append({"op": "add", "path": path, "value": value})
    return patch


def ca_bundle_patch(configuration: Mapping[str, Any], ca_pem: bytes) -> JsonPatch:
    """JSON patch setting ``caBundle`` on every webhook of a webhook configuration.

    Each change is guarded by a ``test`` of the webhook's name so that a concurrent
    reordering makes the patch fail instead of writing the bundle to the wrong webhook.
    Returns [] when every webhook already carries ``ca_pem``.
    """
    bundle = b64(ca_pem)
    patch: JsonPatch = []
    for index, webhook in enumerate(configuration.get("webhooks") or []):
        client_config = webhook.get("clientConfig") or {}
        if client_config.get("caBundle") == bundle:
            continue
        patch.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook["name"]})
        if "clientConfig" not in webhook:
            patch.append({"op": "add", "path": f"/webhooks/{index}/clientConfig", "value": {}})
        patch.append(
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
        )
    return patch


def apiservice_ca_patch(apiservice: Mapping[str, Any], ca_pem: bytes) -> JsonPatch:
    """JSON patch setting an APIService's ``spec.caBundle``; [] when it is already set."""
    bundle = b64(ca_pem)
    if (apiservice.get("spec") or {}).get("caBundle") == bundle:
        return []
    return [{"op": "add", "path": "/spec/caBundle", "value": bundle}]
