"""The few API calls ``tidal-certs`` makes, behind a small interface that tests can fake.

Objects travel as plain dicts (raw JSON) so that the code does not depend on the generated
model classes of a particular ``kubernetes`` client release.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Literal, Protocol

from certs.objects import JsonPatch

WebhookKind = Literal["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


class Cluster(Protocol):
    """Secrets in one namespace, webhook configurations and APIServices, by name."""

    def read_secret(self, namespace: str, name: str) -> dict | None: ...
    def create_secret(self, namespace: str, body: dict) -> None: ...
    def patch_secret(self, namespace: str, name: str, patch: JsonPatch) -> None: ...
    def delete_secret(self, namespace: str, name: str) -> None: ...
    def read_webhook_configuration(self, kind: WebhookKind, name: str) -> dict | None: ...
    def patch_webhook_configuration(
        self, kind: WebhookKind, name: str, patch: JsonPatch
    ) -> None: ...
    def read_apiservice(self, name: str) -> dict | None: ...
    def patch_apiservice(self, name: str, patch: JsonPatch) -> None: ...


class ClusterError(RuntimeError):
    """An API call failed (forbidden, conflict, unreachable, bad kubeconfig, ...)."""


class KubernetesCluster:
    """``Cluster`` backed by the official ``kubernetes`` Python client.

    Writes skip response deserialization (``_preload_content=False``): only success matters.
    A list body is sent as ``application/json-patch+json`` by every client release.
    """

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._client = client
        self._core = client.CoreV1Api(api_client)
        self._admission = client.AdmissionregistrationV1Api(api_client)
        self._registration = client.ApiregistrationV1Api(api_client)

    def read_secret(self, namespace: str, name: str) -> dict | None:
        read = self._core.read_namespaced_secret
        return self._read(f"secret {namespace}/{name}", read, name, namespace)

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
        where = f"create secret {namespace}/{meta['name']}"
        self._call(where, self._core.create_namespaced_secret, namespace, model)

    def patch_secret(self, namespace: str, name: str, patch: JsonPatch) -> None:
        where = f"patch secret {namespace}/{name}"
        self._call(where, self._core.patch_namespaced_secret, name, namespace, patch)

    def delete_secret(self, namespace: str, name: str) -> None:
        where = f"delete secret {namespace}/{name}"
        self._call(where, self._core.delete_namespaced_secret, name, namespace)

    def read_webhook_configuration(self, kind: WebhookKind, name: str) -> dict | None:
        return self._read(f"{kind} {name}", self._webhook_method("read", kind), name)

    def patch_webhook_configuration(self, kind: WebhookKind, name: str, patch: JsonPatch) -> None:
        self._call(f"patch {kind} {name}", self._webhook_method("patch", kind), name, patch)

    def read_apiservice(self, name: str) -> dict | None:
        return self._read(f"APIService {name}", self._registration.read_api_service, name)

    def patch_apiservice(self, name: str, patch: JsonPatch) -> None:
        self._call(f"patch APIService {name}", self._registration.patch_api_service, name, patch)

    def _webhook_method(self, verb: str, kind: WebhookKind) -> Any:
        prefix = "mutating" if kind == "MutatingWebhookConfiguration" else "validating"
        return getattr(self._admission, f"{verb}_{prefix}_webhook_configuration")

    def _read(self, what: str, method: Any, *args: Any) -> dict | None:
        try:
            response = method(*args, _preload_content=False)
        except self._client.exceptions.ApiException as error:
            if error.status == 404:
                return None
            raise ClusterError(f"read {what}: {_describe(error)}") from error
        return json.loads(response.data)

    def _call(self, what: str, method: Any, *args: Any) -> None:
        try:
            method(*args, _preload_content=False)
        except self._client.exceptions.ApiException as error:
            raise ClusterError(f"{what}: {_describe(error)}") from error


def _describe(error: Any) -> str:
    """``403 Forbidden: <the apiserver's message>`` from an ``ApiException``."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(error.body or "{}").get("message", "")
    return f"{error.status} {error.reason}" + (f": {message}" if message else "")


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubernetesCluster:
    """In-cluster config inside a pod (unless a kubeconfig is named), else the kubeconfig."""
    from kubernetes import client, config

    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            return KubernetesCluster(client.ApiClient())
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        return KubernetesCluster(api_client)
    except config.ConfigException as error:
        raise ClusterError(f"cannot load the cluster configuration: {error}") from error
