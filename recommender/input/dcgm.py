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


def gpu_models_by_pod(client: PrometheusClient, at: float, lookback_s: float | None = None
                      ) -> dict[tuple[str, str], str]:
    """The ``modelName`` of each pod's GPUs, by (namespace, pod): at ``at``, or over the
    ``lookback_s`` before it (a pod with GPUs of several models: the one of most GPUs)."""
    metric = "DCGM_FI_DEV_FB_USED"
    if lookback_s:
        metric = f"max_over_time({metric}[{int(lookback_s)}s])"
    series = client.query(f"count by (namespace, pod, modelName) ({attributed(metric)})", at)
    counted: dict[tuple[str, str], tuple[float, str]] = {}
    for s in series:
        labels = s.get("metric") or {}
        key = (labels.get("namespace", ""), labels.get("pod", ""))
        name, count = labels.get("modelName", ""), float(s.get("value", [0, "0"])[1])
        if all(key) and name and count > counted.get(key, (0.0, ""))[0]:
            counted[key] = (count, name)
    return {key: name for key, (_, name) in counted.items()}
