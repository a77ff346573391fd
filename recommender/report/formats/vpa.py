"""``--format vpa``: VerticalPodAutoscalers (updateMode Off) for workloads that have none, so
a team can read recommendations in VPA status before letting anything change pods."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import yaml

from recommender.quantity import GPU
from recommender.report.model import Report
from recommender.vpa import GROUP, KIND, VERSION

API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                "ReplicaSet": "apps/v1", "CronJob": "batch/v1", "Job": "batch/v1"}


def vpa_objects(report: Report) -> list[dict[str, Any]]:
    """One VPA per workload without one; GPU workloads also control ``nvidia.com/gpu``."""
    out = []
    for (ns, workload), group in groupby(report.containers, key=lambda c: (c.namespace,
                                                                           c.workload)):
        members = list(group)
        if any(c.has_vpa for c in members):
            continue
        kind, name = workload.split("/", 1)
        scaled = {f.code.removeprefix("hpa-") for c in members for f in c.flags
                  if f.code.startswith("hpa-")}
        controlled = [r for r in ("cpu", "memory") if r not in scaled]  # an HPA's stays its own
        if any(line.resource == "gpu" for c in members for line in c.lines):
            controlled.append(GPU)
        out.append({
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "tidal"}},
            "spec": {
                "targetRef": {"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind,
                              "name": name},
                "updatePolicy": {"updateMode": "Off"},
                "resourcePolicy": {"containerPolicies": [
                    {"containerName": "*", "controlledResources": controlled},
                ]},
            },
        })
    return out


def render(report: Report) -> str:
    objects = vpa_objects(report)
    head = (f"# VerticalPodAutoscalers (updateMode Off) for workloads without one, generated "
            f"{report.generated_at}.\n# Apply with kubectl apply -f; switch updateMode when the "
            "recommendations look right.\n")
    if not objects:
        return head + "# Every workload in the report already has a VPA.\n"
    return head + "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)
