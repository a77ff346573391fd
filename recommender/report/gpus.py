"""The GPU section: how busy each GPU workload is and what would fit (fewer GPUs, a MIG
profile, a share of one GPU sized by its reserved memory and busy share), with the saving and
the risks of each option."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from recommender.history import GPU, GPU_MEMORY
from recommender.logic.gpu import GPU_MODELS, SHARED, GpuModel, plan_gpu, size_gpu
from recommender.logic.strategies import Strategy
from recommender.model.state import UsageModel
from recommender.quantity import GPU_SHARED, MIG_PREFIX
from recommender.report.model import GpuOption
from recommender.report.prices import HOURS_PER_MONTH, Prices, gpu_equivalent

SHARED_MAX_BUSY = 0.5  # suggest time-slicing when p95 keeps under half a GPU

_MIG_MEMORY = {p.resource: p.memory_bytes for m in GPU_MODELS.values() for p in m.mig}


def equivalent(devices: dict[str, float]) -> float:
    """Whole-GPU equivalent of a device map (unknown shares count as zero)."""
    return sum(gpu_equivalent(r, n) or 0.0 for r, n in devices.items())


def device_memory(devices: dict[str, float], model: GpuModel | None) -> float | None:
    """Memory of the devices (bytes), when the model (or the MIG profile) tells."""
    total = 0.0
    for resource, count in devices.items():
        if resource.startswith(MIG_PREFIX) and resource in _MIG_MEMORY:
            total += _MIG_MEMORY[resource] * count
        elif model is not None and resource != GPU_SHARED:
            total += model.memory_bytes * count
        else:
            return None
    return total or None


def gpu_estimate(
    model: UsageModel, strategy: Strategy, row: int
) -> tuple[float, float] | None:
    """The strategy's target busy GPUs and GPU memory for one row (before sizing)."""
    rows = np.array([row])
    bounds = strategy.estimate(model, rows, np.ones(1))
    if GPU not in bounds:
        return None
    return float(bounds[GPU].target[0]), float(bounds[GPU_MEMORY].target[0])


def gpu_options(
    busy: float,
    memory: float,
    busy_p95: float | None,
    gpu: GpuModel | None,
    allocated: float,
    pods: float,
    prices: Prices,
) -> list[GpuOption]:
    """Whole GPUs, a MIG profile (when the model has MIG) and a shared GPU, if they fit."""
    price = prices.gpu_hour(gpu.name if gpu else None) * HOURS_PER_MONTH * pods

    def option(kind: str, devices: dict[str, float], note: str) -> GpuOption:
        (resource, count), = devices.items()
        gpus = equivalent(devices)
        return GpuOption(kind, resource, count, gpus, (allocated - gpus) * price, note)

    out = [
        option(
            "whole",
            size_gpu(busy, memory, replace(gpu, mig=()) if gpu else None) or {GPU: 1.0},
            "whole GPUs that fit the target",
        )
    ]
    if gpu is not None and gpu.mig:
        mig = size_gpu(busy, memory, gpu)
        resource = next(iter(mig), "")
        if resource.startswith(MIG_PREFIX):
            out.append(option("mig", mig, f"MIG profile on {gpu.name} (isolated slice)"))
    shared = plan_gpu(SHARED, busy, memory, gpu)
    if shared is not None and shared.option == SHARED:
        # Risks (docs/reports.md): compute is not isolated, memory above the limit fails.
        note = (f"{shared.devices:.0%} of one, MPS {shared.reserved_bytes / 2**30:.0f} GiB "
                "limit, not isolated")
        out.append(GpuOption("shared", GPU_SHARED, 1.0, shared.devices,
                             (allocated - shared.devices) * price, note))
    elif busy_p95 is not None and busy_p95 <= SHARED_MAX_BUSY:
        out.append(
            GpuOption(
                "shared", GPU_SHARED, 1.0, None, None,
                "time-sliced GPU (model unknown, so no share is sized): no memory isolation "
                "or compute guarantee",
            )
        )
    return out

