"""Tidal's webhook on the e2e cluster, as ``make dev`` runs it (``scripts/dev.py``).

Each stack registers its own webhook configurations (``tidal-e2e-<id>``) whose
namespaceSelectors also require the label ``tidal.dev/e2e: <id>``: other tests sharing the
session's cluster never meet this webhook (nor its ``failurePolicy: Fail`` once stopped).
The webhooks keep their names (``pods.tidal.dev``, ``autoscalers.tidal.dev``).

The webhook learns about objects through watches, a few milliseconds after the apiserver
stores them. Tests wait for that with server-side dry-runs (admission webhooks see them,
nothing is stored) until the webhook shows it has seen the object, then do the real call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from scripts.dev import (
    E2E_LABEL,
    VALIDATING_WEBHOOK,
    DevSettings,
    DevStack,
    unscoped_tidal_webhooks,
)
from tests.e2e.cluster import KubeCluster, wait_until

SYNC_TIMEOUT = 30.0


@contextmanager
def webhook_stack(cluster: KubeCluster, root: Path, webhook_workers: int | None = None
                  ) -> Iterator[DevStack]:
    """A running webhook (no recommender) registered for namespaces labelled with its id."""
    stack_id = uuid.uuid4().hex[:8]
    settings = DevSettings(
        kubeconfig=cluster.kubeconfig,
        state_dir=root / "dev",
        logs_dir=cluster.logs_dir or root / "logs",
        config_name=f"tidal-e2e-{stack_id}",
        namespace_labels={E2E_LABEL: stack_id},
        recommender=False,
        webhook_workers=webhook_workers,
    )
    foreign = unscoped_tidal_webhooks(cluster)
    if foreign:
        pytest.skip(
            f"Tidal webhooks already serve every namespace of this cluster ({', '.join(foreign)}"
            "): run `make dev-down` before the e2e tests against the playground"
        )
    stack = DevStack(settings)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def stack_namespace(cluster: KubeCluster, stack: DevStack, prefix: str) -> str:
    """A fresh namespace this stack's webhooks apply to (its ServiceAccount ready)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(stack.settings.namespace_labels)},
    }
    apply(cluster, "", namespace)
    wait_until(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    return name


def apply(cluster: KubeCluster, namespace: str, *objects: Mapping[str, Any]) -> None:
    """``kubectl apply`` of objects; fails the test with kubectl's stderr."""
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
    proc = cluster.kubectl(*args, input=json.dumps(doc))
    assert proc.returncode == 0, proc.stderr


def write_file(directory: Path, name: str, obj: Mapping[str, Any]) -> Path:
    """A manifest file for ``kubectl apply -f`` (kubectl names it in its errors)."""
    path = directory / name
    path.write_text(json.dumps(obj, indent=2))
    return path


def set_recommendation(
    cluster: KubeCluster, namespace: str, vpa: str, targets: Mapping[str, Mapping[str, str]]
) -> None:
    """Write ``status.recommendation`` through the status subresource (as a recommender does)."""
    recs = [
        {"containerName": container, "target": dict(target), "lowerBound": dict(target),
         "upperBound": dict(target), "uncappedTarget": dict(target)}
        for container, target in targets.items()
    ]  # fmt: skip
    patch = {"status": {"recommendation": {"containerRecommendations": recs}}}
    proc = cluster.kubectl(
        "patch", "verticalpodautoscaler", vpa, "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(patch),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def dry_run(cluster: KubeCluster, namespace: str, obj: Mapping[str, Any]) -> Any:
    """Server-side dry-run create: (exit code, the object as admitted or stderr)."""
    proc = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-",
        input=json.dumps(obj),
    )  # fmt: skip
    return proc.returncode, json.loads(proc.stdout) if proc.returncode == 0 else proc.stderr


def wait_for_webhook(
    check: Callable[[], bool], what: str, confirmations: int = 2, timeout: float = SYNC_TIMEOUT
) -> None:
    """Wait until ``check`` holds ``confirmations`` times in a row (each gunicorn worker
    keeps its own watch cache)."""
    streak = 0

    def holds() -> bool:
        nonlocal streak
        streak = streak + 1 if check() else 0
        return streak >= confirmations

    wait_until(holds, timeout=timeout, interval=0.1, what=what)


def probe_pod(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A pod shaped like one the Deployment's ReplicaSet creates (for dry-runs only)."""
    name = deployment["metadata"]["name"]
    template = json.loads(json.dumps(deployment["spec"]["template"]))
    labels = {**template["metadata"].get("labels", {}), "pod-template-hash": "probe"}
    owner = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-probe",
        "uid": "00000000-0000-4000-8000-000000000000", "controller": True,
    }  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-probe", "labels": labels, "ownerReferences": [owner]},
        "spec": template["spec"],
    }


def denial(file: Path, message: str) -> str:
    """kubectl's stderr when the validating webhook denies creating ``file``."""
    return (
        f'Error from server (Forbidden): error when creating "{file}": admission webhook '
        f'"{VALIDATING_WEBHOOK}" denied the request: {message}\n'
    )


# --------------------------------------------------------------------------- objects


def deployment(name: str, containers: list[dict[str, Any]], replicas: int = 2) -> dict[str, Any]:
    """A Deployment of ``containers``, pods labelled ``app: <name>``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }  # fmt: skip


def container(
    name: str, requests: Mapping[str, str], limits: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A container with these requests (and limits); its image is never pulled."""
    resources: dict[str, Any] = {"requests": dict(requests)}
    if limits:
        resources["limits"] = dict(limits)
    return {"name": name, "image": "registry.invalid/app:1", "resources": resources}


def vpa(name: str, target: str, mode: str = "Recreate", **policy: Any) -> dict[str, Any]:
    """A VPA for Deployment ``target``; ``policy`` fields apply to container ``*``."""
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "updatePolicy": {"updateMode": mode},
    }
    if policy:
        spec["resourcePolicy"] = {"containerPolicies": [{"containerName": "*", **policy}]}
    return {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": name}, "spec": spec,
    }  # fmt: skip


def hpa(name: str, target: str, resource: str) -> dict[str, Any]:
    """An autoscaling/v2 HPA on Deployment ``target`` scaling on ``resource`` utilization."""
    metric = {
        "type": "Resource",
        "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1, "maxReplicas": 5, "metrics": [metric],
        },
    }  # fmt: skip
