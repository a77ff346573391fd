"""``--format dra``: Dynamic Resource Allocation claims (``resource.k8s.io/v1``) for GPUs.

Per GPU container a ``ResourceClaimTemplate`` that expresses its recommendation for NVIDIA's
DRA driver (device classes ``gpu.nvidia.com`` and ``mig.nvidia.com``, attributes and capacity
under ``gpu.nvidia.com``):

- a MIG profile: one device of class ``mig.nvidia.com`` whose ``profile`` is the profile;
- whole GPUs: that many of class ``gpu.nvidia.com`` with at least the model's memory;
- where a share of one device fits (:func:`~recommender.logic.gpu.plan_gpu`), also a
  ``-shared`` template: one GPU with the driver's MPS sharing, the active-thread percentage of
  the share and a pinned-memory limit of the reserved GPU memory. A claim from a template
  belongs to one pod: pods share a device through one ``ResourceClaim`` they all reference
  (``resourceClaimName``), or through the driver's time-slicing of the node's GPUs.

Pods use a template with ``spec.resourceClaims[].resourceClaimTemplateName`` and the
container's ``resources.claims`` (instead of ``nvidia.com/gpu`` requests).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from recommender.dra import RECOMMENDED, template_name
from recommender.logic.gpu import MIG, SHARED, GpuModel, gpu_model, plan_gpu
from recommender.report.model import GpuReport, Report

DRIVER = "gpu.nvidia.com"
GPU_CLASS = "gpu.nvidia.com"
MIG_CLASS = "mig.nvidia.com"
CONFIG_API = "resource.nvidia.com/v1beta1"


def _gi(value: float) -> str:
    return f"{math.ceil(value / 2**30 - 1e-9)}Gi"  # rounded up to whole GiB


def _template(g: GpuReport, suffix: str, request: dict[str, Any],
              config: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    devices: dict[str, Any] = {"requests": [{"name": "gpu", "exactly": request}]}
    if config:
        devices["config"] = config
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": template_name(g.workload, g.container, suffix),
                     "namespace": g.namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tidal"},
                     "annotations": {"tidal.dev/workload": g.workload,
                                     "tidal.dev/container": g.container}},
        "spec": {"spec": {"devices": devices}},
    }


def claim_templates(g: GpuReport, model: GpuModel | None) -> list[dict[str, Any]]:
    """The recommended template (MIG or whole GPUs), then the shared one where it fits."""
    if g.estimate is None:
        return []
    busy, memory = g.estimate
    out = []
    plan = plan_gpu(MIG, busy, memory, model)
    if plan is None:
        return []
    if plan.option == MIG:
        profile = plan.resource.removeprefix("nvidia.com/mig-")
        out.append(_template(g, RECOMMENDED, {
            "deviceClassName": MIG_CLASS, "allocationMode": "ExactCount", "count": 1,
            "selectors": [{"cel": {"expression":
                f"device.attributes['{DRIVER}'].profile == '{profile}'"}}],
        }))
    else:
        request: dict[str, Any] = {"deviceClassName": GPU_CLASS, "allocationMode": "ExactCount",
                                   "count": int(plan.devices)}
        if model is not None:
            request["selectors"] = [{"cel": {"expression": (
                f"device.capacity['{DRIVER}'].memory.compareTo(quantity("
                f"'{_gi(model.memory_bytes * 0.9)}')) >= 0")}}]
        out.append(_template(g, RECOMMENDED, request))
    shared = plan_gpu(SHARED, busy, memory, model)
    if shared is not None and shared.option == SHARED and model is not None:
        out.append(_template(g, SHARED, {
            "deviceClassName": GPU_CLASS, "allocationMode": "ExactCount", "count": 1,
            "selectors": [{"cel": {"expression": (
                f"device.capacity['{DRIVER}'].memory.compareTo(quantity("
                f"'{_gi(shared.reserved_bytes)}')) >= 0")}}],
        }, [{"requests": ["gpu"], "opaque": {"driver": DRIVER, "parameters": {
            "apiVersion": CONFIG_API, "kind": "GpuConfig",
            "sharing": {"strategy": "MPS", "mpsConfig": {
                "defaultActiveThreadPercentage": max(1, round(shared.devices * 100)),
                "defaultPinnedDeviceMemoryLimit": _gi(shared.reserved_bytes)}},
        }}}]))
    return out


def dra_objects(report: Report) -> list[dict[str, Any]]:
    out = []
    for g in report.gpus:
        try:
            model = gpu_model(g.model) if g.model else None
        except ValueError:
            model = None
        out.extend(claim_templates(g, model))
    return out


def render(report: Report) -> str:
    objects = dra_objects(report)
    head = (f"# ResourceClaimTemplates (resource.k8s.io/v1, NVIDIA's DRA driver) for the GPU "
            f"containers, generated {report.generated_at}.\n# A pod uses one with "
            "spec.resourceClaims[].resourceClaimTemplateName and the container's "
            "resources.claims;\n# '-shared' templates share a device with MPS (see "
            "docs/reports.md).\n")
    if not objects:
        return head + "# No GPU container with a recommendation in this report.\n"
    return head + "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)
