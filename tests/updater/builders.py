"""Pods, ReplicaSets and VPAs shaped like the apiserver's, for the updater's tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

NOW = 1_800_000_000.0  # a fixed "now" for decisions
NAMESPACE = "shop"
RS = "web-5f7d8c9b4"


def rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(
    name: str = "app",
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    resize_policy: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "image": "registry.invalid/app:1", "resources": {}}
    spec["resources"]["requests"] = requests if requests is not None else {
        "cpu": "500m", "memory": "512Mi"}
    if limits is not None:
        spec["resources"]["limits"] = limits
    if resize_policy:
        spec["resizePolicy"] = [
            {"resourceName": r, "restartPolicy": p} for r, p in resize_policy.items()
        ]
    return spec


def pod(
    name: str = "web-5f7d8c9b4-abcde",
    containers: list[dict[str, Any]] | None = None,
    age_s: float = 86400.0,
    phase: str = "Running",
    ready: bool = True,
    conditions: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    oom: tuple[float, float] | None = None,  # (started, finished) of an OOMKilled run
    qos: str | None = None,
    owner: tuple[str, str] = ("ReplicaSet", RS),
) -> dict[str, Any]:
    specs = containers or [container(limits={"cpu": "1", "memory": "1Gi"})]
    statuses = []
    for spec in specs:
        status: dict[str, Any] = {
            "name": spec["name"], "ready": ready, "restartCount": 0,
            "state": {"running": {"startedAt": rfc3339(NOW - age_s)}},
        }
        if oom is not None:
            status["restartCount"] = 1
            status["lastState"] = {"terminated": {
                "reason": "OOMKilled", "exitCode": 137,
                "startedAt": rfc3339(oom[0]), "finishedAt": rfc3339(oom[1])}}
        statuses.append(status)
    all_conditions = [{"type": "Ready", "status": "True" if ready else "False",
                       "lastTransitionTime": rfc3339(NOW - age_s)}]
    all_conditions += conditions or []
    meta: dict[str, Any] = {
        "name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
        "labels": {"app": "web", "pod-template-hash": "5f7d8c9b4"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                             "uid": f"uid-{owner[1]}", "controller": True}],
    }
    if annotations:
        meta["annotations"] = annotations
    status_block: dict[str, Any] = {
        "phase": phase, "startTime": rfc3339(NOW - age_s), "conditions": all_conditions,
        "containerStatuses": statuses,
    }
    if qos:
        status_block["qosClass"] = qos
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": specs, "nodeName": "node-1"}, "status": status_block}


def condition(kind: str, reason: str, since: float, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": rfc3339(since)}


def replicaset(replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": RS, "namespace": NAMESPACE, "uid": f"uid-{RS}",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "web", "uid": "uid-web", "controller": True}]},
        "spec": {"replicas": replicas},
    }


def vpa(
    mode: str = "InPlaceOrRecreate",
    target: dict[str, str] | None = None,
    lower: dict[str, str] | None = None,
    upper: dict[str, str] | None = None,
    container_name: str = "app",
    policies: list[dict[str, Any]] | None = None,
    update_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    target = target or {"cpu": "250m", "memory": "512Mi"}
    rec = {"containerName": container_name, "target": target,
           "lowerBound": lower or target, "upperBound": upper or target,
           "uncappedTarget": target}
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "updatePolicy": {"updateMode": mode, **(update_policy or {})},
    }
    if policies:
        spec["resourcePolicy"] = {"containerPolicies": policies}
    return {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "web", "namespace": NAMESPACE, "uid": "uid-vpa-web",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
        "status": {"recommendation": {"containerRecommendations": [rec]}},
    }
