"""NVIDIA dcgm-exporter metrics attributed to pod containers.

Busy GPUs: ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (0-1, reported for MIG instances too), else
``DCGM_FI_DEV_GPU_UTIL`` / 100; summed over a container's GPUs. GPU memory:
``DCGM_FI_DEV_FB_USED`` (MiB) in bytes. Attribution labels are ``namespace``/``pod``/
``container``; the old ``pod_namespace``/``pod_name``/``container_name`` win when present
(with those, ``namespace`` is usually the exporter's own namespace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recommender.input.prometheus import PrometheusClient

MIB = 2**20
BY = "sum by (namespace, pod, container)"
OLD_LABELS = (("namespace", "pod_namespace"), ("pod", "pod_name"), ("container", "container_name"))


def attributed(expr: str) -> str:
    """``expr`` with the old attribution labels copied over the new ones where set."""
    for new, old in OLD_LABELS:
        expr = f'label_replace({expr}, "{new}", "$1", "{old}", "(.+)")'
    return expr


def _window(step: float) -> str:
    return f"{max(int(step), 60)}s"


def gpu_query(step: float) -> str:
    """Busy GPUs per container, averaged over each step; GR_ENGINE_ACTIVE preferred."""
    w = _window(step)
    engine = f"{BY} ({attributed(f'avg_over_time(DCGM_FI_PROF_GR_ENGINE_ACTIVE[{w}])')})"
    util = f"{BY} ({attributed(f'avg_over_time(DCGM_FI_DEV_GPU_UTIL[{w}])')}) / 100"
    return f"{engine} or {util}"


def gpu_memory_query(step: float) -> str:
    """Peak framebuffer use per container over each step, in bytes."""
    w = _window(step)
    return f"{BY} ({attributed(f'max_over_time(DCGM_FI_DEV_FB_USED[{w}])')}) * {MIB}"


def gpu_models(client: PrometheusClient, at: float, lookback_s: float | None = None
               ) -> list[str]:
    """GPU models seen by dcgm-exporter (the ``modelName`` label), most common first: at
    ``at``, or over the ``lookback_s`` before it (an offline command's whole history)."""
    metric = "DCGM_FI_DEV_FB_USED"
    if lookback_s:
        metric = f"max_over_time({metric}[{int(lookback_s)}s])"
    series = client.query(f"count by (modelName) ({metric})", at)
    counted = sorted(
        ((float(s.get("value", [0, "0"])[1]), (s.get("metric") or {}).get("modelName", ""))
         for s in series),
        reverse=True,
    )
    return [name for _, name in counted if name]


_FAMILIES = ("H200", "H100", "A100", "L40S", "A10G", "L4", "T4")
# Memory sizes by family; a product name without one is the first, except where noted.
_MEMORY = {"H200": ("141GB",), "H100": ("80GB", "94GB"), "A100": ("40GB", "80GB")}


def model_from_product(product: str) -> str | None:
    """Tidal's GPU model name for dcgm-exporter's ``modelName`` or the node label
    ``nvidia.com/gpu.product`` (``NVIDIA A100-SXM4-40GB``, ``NVIDIA-H100-80GB-HBM3``,
    ``Tesla-T4``); None when the family is unknown."""
    text = product.upper().replace("-", " ").replace("_", " ")
    words = text.split()
    family = next((f for f in _FAMILIES if f in words), None)
    if family is None:
        return None
    if family not in _MEMORY:
        return family
    memory = next((w for w in words if w.endswith("GB") and w[:-2].isdigit()), None)
    if family == "H100" and memory is None:
        memory = "94GB" if "NVL" in words else "80GB"  # H100 PCIe/SXM 80 GB, NVL 94 GB
    if memory is None and len(_MEMORY[family]) == 1:
        memory = _MEMORY[family][0]
    if memory not in _MEMORY[family]:
        return None  # an A100 without its size: 40 or 80 GB, never guessed
    return f"{family}-{memory}"
