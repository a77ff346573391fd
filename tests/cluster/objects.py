"""API objects shaped like the apiserver's: a Deployment, its ReplicaSet and pods, VPAs."""

from __future__ import annotations

from typing import Any


def _owner(kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{kind}-{name}",
            "controller": True, "blockOwnerDeletion": True}


def deployment_objects(
    namespace: str, name: str, replicas: int, containers: tuple[str, ...] = ("app",),
    oom: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A Deployment, its ReplicaSet and ``replicas`` pods (``oom``: a container whose last
    termination was an OOM kill)."""
    rs = f"{name}-5f7d8c9b4"
    spec_containers = [
        {"name": c, "image": "registry.invalid/app:1",
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                       "limits": {"memory": "256Mi"}}}
        for c in containers
    ]
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"spec": {"containers": spec_containers}}},
    }
    replicaset = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs, "namespace": namespace, "labels": {"app": name},
                     "ownerReferences": [_owner("Deployment", name)]},
        "spec": {"replicas": replicas},
    }
    pods = []
    for i in range(replicas):
        statuses = []
        for c in containers:
            state: dict[str, Any] = {"name": c, "ready": True, "restartCount": 0,
                                     "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
            if c == oom:
                state["restartCount"] = 1
                state["lastState"] = {"terminated": {
                    "reason": "OOMKilled", "exitCode": 137,
                    "finishedAt": "2026-11-27T10:00:00Z"}}
            statuses.append(state)
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{rs}-{i:05d}", "namespace": namespace,
                         "labels": {"app": name}, "ownerReferences": [_owner("ReplicaSet", rs)]},
            "spec": {"containers": spec_containers, "nodeName": "node-1"},
            "status": {"phase": "Running", "containerStatuses": statuses},
        })
    return deployment, replicaset, pods


def vpa_object(
    namespace: str, name: str, target: str, recommender: str | None = "tidal",
    kind: str = "Deployment", **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
        "updatePolicy": {"updateMode": "Off"}, **spec,
    }
    if recommender is not None:
        body["recommenders"] = [{"name": recommender}]
    return {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}


def pod_metrics(namespace: str, pod: str, usage: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A ``metrics.k8s.io/v1beta1`` PodMetrics item; ``usage`` is container -> (cpu, memory)."""
    return {
        "metadata": {"name": pod, "namespace": namespace,
                     "creationTimestamp": "2026-11-28T12:00:00Z"},
        "timestamp": "2026-11-28T11:59:30Z", "window": "30s",
        "containers": [{"name": c, "usage": {"cpu": cpu, "memory": memory}}
                       for c, (cpu, memory) in usage.items()],
    }
