"""The few API calls ``tidal-certs`` makes, behind a small interface that tests can fake.

Objects travel as plain dicts (raw JSON) so that the code does not depend on the generated
model classes of a particular ``kubernetes`` client release.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal, Protocol

from certs.objects import JsonPatch

WebhookKind = Literal["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


class Cluster(Protocol):
    """Secrets in one namespace and webhook configurations, by name."""

    def read_secret(self, namespace: str, name: str) -> dict | None: ...
    def create_secret(self, namespace: str, body: dict) -> None: ...
    def patch_secret(self, namespace: str, name: str, patch: JsonPatch) -> None: ...
    def delete_secret(self, namespace: str, name: str) -> None: ...
    def read_webhook_configuration(self, kind: WebhookKind, name: str) -> dict | None: ...
    def patch_webhook_configuration(
        self, kind: WebhookKind, name: str, patch: JsonPatch
    ) -> None: ...


class KubernetesCluster:
    """``Cluster`` backed by the official ``kubernetes`` Python client."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._client = client
        self._core = client.CoreV1Api(api_client)
        self._admission = client.AdmissionregistrationV1Api(api_client)

    def read_secret(self, namespace: str, name: str) -> dict | None:
        return self._read(self._core.read_namespaced_secret, name, namespace)

    def create_secret(self, namespace: str, body: dict) -> None:
        c = self._client
        meta = body["metadata"]
        model = c.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=c.V1ObjectMeta(name=meta["name"], namespace=namespace, labels=meta["labels"]),
            type=body["type"],
            data=body["data"],
        )
        self._core.create_namespaced_secret(namespace, model, _preload_content=False)

    # Writes skip response deserialization (``_preload_content=False``): only success matters.
    def patch_secret(self, namespace: str, name: str, patch: JsonPatch) -> None:
        # A list body is sent as application/json-patch+json by every client release.
        self._core.patch_namespaced_secret(name, namespace, patch, _preload_content=False)

    def delete_secret(self, namespace: str, name: str) -> None:
        self._core.delete_namespaced_secret(name, namespace, _preload_content=False)

    def read_webhook_configuration(self, kind: WebhookKind, name: str) -> dict | None:
        if kind == "MutatingWebhookConfiguration":
            return self._read(self._admission.read_mutating_webhook_configuration, name)
        return self._read(self._admission.read_validating_webhook_configuration, name)

    def patch_webhook_configuration(self, kind: WebhookKind, name: str, patch: JsonPatch) -> None:
        if kind == "MutatingWebhookConfiguration":
            self._admission.patch_mutating_webhook_configuration(
                name, patch, _preload_content=False
            )
        else:
            self._admission.patch_validating_webhook_configuration(
                name, patch, _preload_content=False
            )

    def _read(self, method: Any, *args: str) -> dict | None:
        try:
            response = method(*args, _preload_content=False)
        except self._client.exceptions.ApiException as error:
            if error.status == 404:
                return None
            raise
        return json.loads(response.data)


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubernetesCluster:
    """In-cluster config inside a pod (unless a kubeconfig is named), else the kubeconfig."""
    from kubernetes import client, config

    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return KubernetesCluster(client.ApiClient())
    api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
    return KubernetesCluster(api_client)
