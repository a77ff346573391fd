"""Builders for objects and AdmissionReview requests shaped like the apiserver's."""

from __future__ import annotations

import copy
import itertools
from typing import Any

_uids = itertools.count(1)

RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "HorizontalPodAutoscaler": ("autoscaling", "v2", "horizontalpodautoscalers"),
    "VerticalPodAutoscaler": ("autoscaling.k8s.io", "v1", "verticalpodautoscalers"),
}


def container(name: str = "app", requests: dict | None = None, limits: dict | None = None) -> dict:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {
        "name": name,
        "image": f"registry.example/{name}:1.0",
        "resources": resources,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def pod(
    *containers: dict,
    name: str = "",
    namespace: str = "default",
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f8b6c5d"),
    labels: dict | None = None,
    annotations: dict | None = None,
    init_containers: list | None = None,
) -> dict:
    """A pod as a ReplicaSet controller creates it (generateName, no name yet)."""
    metadata: dict[str, Any] = {
        "generateName": "web-7d9f8b6c5d-",
        "namespace": namespace,
        "labels": labels
        if labels is not None
        else {"app": "web", "pod-template-hash": "7d9f8b6c5d"},
    }
    if name:
        metadata["name"] = name
    if annotations is not None:
        metadata["annotations"] = annotations
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1" if owner[0] == "Job" else "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": "0b5e1c2a-1111-2222-3333-444455556666",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    spec: dict[str, Any] = {
        "containers": list(containers) or [container()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
    }
    if init_containers:
        spec["initContainers"] = init_containers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": {}}


def vpa(
    name: str = "web-vpa",
    target: tuple[str, str] = ("Deployment", "web"),
    *,
    namespace: str = "default",
    mode: str | None = "Recreate",
    policies: list | None = None,
    recommendations: list | None = None,
    created: str = "2026-11-01T10:00:00Z",
    recommenders: list | None = None,
) -> dict:
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": target[0], "name": target[1]}
    }
    if mode is not None:
        spec["updatePolicy"] = {"updateMode": mode}
    if policies is not None:
        spec["resourcePolicy"] = {"containerPolicies": policies}
    if recommenders is not None:
        spec["recommenders"] = recommenders
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
        },
        "spec": spec,
    }
    if recommendations is not None:
        obj["status"] = {"recommendation": {"containerRecommendations": recommendations}}
    return obj


def rec(name: str = "app", target: dict | None = None, **extra: dict) -> dict:
    target = target or {"cpu": "250m", "memory": "256Mi"}
    return {
        "containerName": name,
        "target": target,
        "lowerBound": extra.get("lowerBound", target),
        "upperBound": extra.get("upperBound", target),
        "uncappedTarget": extra.get("uncappedTarget", target),
    }


def hpa_v2(
    name: str = "web",
    target: tuple[str, str] = ("Deployment", "web"),
    metrics: list | None = None,
    namespace: str = "default",
) -> dict:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target[0], "name": target[1]},
        "minReplicas": 1,
        "maxReplicas": 10,
    }
    if metrics is not None:
        spec["metrics"] = metrics
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def hpa_v1(
    name: str = "web", target: tuple[str, str] = ("Deployment", "web"), cpu: int | None = 70
) -> dict:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target[0], "name": target[1]},
        "minReplicas": 1,
        "maxReplicas": 10,
    }
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def resource_metric(resource: str = "cpu", container: str | None = None) -> dict:
    target = {"type": "Utilization", "averageUtilization": 70}
    if container:
        return {
            "type": "ContainerResource",
            "containerResource": {"name": resource, "container": container, "target": target},
        }
    return {"type": "Resource", "resource": {"name": resource, "target": target}}


def replica_set(
    name: str = "web-7d9f8b6c5d", deployment: str = "web", namespace: str = "default"
) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment,
                    "uid": "d",
                    "controller": True,
                }
            ],
        },
    }


def workload(
    name: str = "web", *containers: str, kind: str = "Deployment", namespace: str = "default"
) -> dict:
    """A Deployment (or another ``kind`` with a pod template) of ``containers``."""
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    names = containers or ("app",)
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container(c) for c in names]},
            },
        },
    }


def job(name: str, cronjob: str | None = None, namespace: str = "default") -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if cronjob:
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": cronjob,
                "uid": "c",
                "controller": True,
            }
        ]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta}


def limit_range(*items: dict, name: str = "limits", namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"limits": list(items)},
    }


def review(
    obj: dict | None,
    *,
    operation: str = "CREATE",
    kind: str | None = None,
    version: str | None = None,
    old: dict | None = None,
    dry_run: bool = False,
    namespace: str = "default",
) -> dict:
    """An AdmissionReview request as kube-apiserver sends it."""
    kind = kind or (obj or {}).get("kind", "Pod")
    group, default_version, plural = RESOURCES.get(kind, ("example.com", "v1", kind.lower() + "s"))
    version = version or default_version
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": plural}
    request: dict[str, Any] = {
        "uid": f"705ab4f5-6393-11e8-b7cc-{next(_uids):012d}",
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": ((obj or {}).get("metadata") or {}).get("name", ""),
        "namespace": namespace,
        "operation": operation,
        "userInfo": {
            "username": "system:serviceaccount:kube-system:replicaset-controller",
            "groups": ["system:serviceaccounts"],
        },
        "object": copy.deepcopy(obj),
        "oldObject": copy.deepcopy(old),
        "dryRun": dry_run,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        if operation == "CREATE"
        else None,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
