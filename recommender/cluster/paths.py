"""API paths of the objects the recommender reads and writes."""

from __future__ import annotations

from recommender.vpa import CHECKPOINT_PLURAL, GROUP, PLURAL, VERSION

VPA_API = f"/apis/{GROUP}/{VERSION}"


def collection(prefix: str, plural: str, namespace: str | None = None) -> str:
    """A list path, cluster-wide or in one namespace."""
    if namespace:
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


def vpas(namespace: str | None = None) -> str:
    return collection(VPA_API, PLURAL, namespace)


def vpa(namespace: str, name: str) -> str:
    return f"{VPA_API}/namespaces/{namespace}/{PLURAL}/{name}"


def vpa_status(namespace: str, name: str) -> str:
    return f"{VPA_API}/namespaces/{namespace}/{PLURAL}/{name}/status"


def checkpoints(namespace: str | None = None) -> str:
    return collection(VPA_API, CHECKPOINT_PLURAL, namespace)


def checkpoint(namespace: str, name: str) -> str:
    return f"{checkpoints(namespace)}/{name}"


def pods(namespace: str | None = None) -> str:
    return collection("/api/v1", "pods", namespace)


def lease(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def pod_metrics(namespace: str | None = None) -> str:
    return collection("/apis/metrics.k8s.io/v1beta1", "pods", namespace)
