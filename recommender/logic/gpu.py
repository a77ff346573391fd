"""GPU sizing: whole devices, the smallest MIG profile that fits, or a share of one device.

GPUs are extended resources: whole numbers, requests == limits, no overcommit. A container
fits a MIG profile when its GPU memory (peak plus margin) fits the profile's memory and its
busy share fits the profile's compute slices (1/7 of the GPU each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from recommender.quantity import GPU, GPU_SHARED, MIG_PREFIX

GB = 10**9
MIB = 2**20
MIG_SLICES = 7


@dataclass(frozen=True)
class MigProfile:
    slices: int
    memory_gb: int

    @property
    def name(self) -> str:
        return f"{self.slices}g.{self.memory_gb}gb"

    @property
    def resource(self) -> str:
        return f"{MIG_PREFIX}{self.name}"

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * GB

    @property
    def compute(self) -> float:
        return self.slices / MIG_SLICES


@dataclass(frozen=True)
class GpuModel:
    """A GPU model: its name, the memory its driver reports (NVML's total, ``memory.total`` of
    ``nvidia-smi``, which NVIDIA's DRA driver publishes as the device's ``memory`` capacity) and
    its MIG profiles."""

    name: str
    memory_mib: int
    mig: tuple[MigProfile, ...] = ()

    @property
    def memory_bytes(self) -> float:
        return self.memory_mib * MIB


# The GPU model of each workload (namespace, ``Kind/name``) where a cluster has several.
GpuModels = Mapping[tuple[str, str], GpuModel]


def _profiles(*names: str) -> tuple[MigProfile, ...]:
    out = []
    for name in names:
        compute, memory = name.split(".")
        out.append(MigProfile(int(compute.rstrip("g")), int(memory.rstrip("gb"))))
    return tuple(out)


# NVIDIA's MIG user guide (profile names as exposed by the device plugin's mixed strategy); a
# profile's memory is taken as its name's GB, a little under what the slice has.
_A100_40 = _profiles("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_GPU_80 = _profiles("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_H100_94 = _profiles("1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb")  # NVL
_H200 = _profiles("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")
GPU_MODELS: dict[str, GpuModel] = {
    m.name: m
    for m in (
        # The "80GB" of a name is GiB on the device; the lower figure where drivers differ.
        GpuModel("A100-40GB", 40536, _A100_40),
        GpuModel("A100-80GB", 81920, _GPU_80),
        GpuModel("H100-80GB", 81559, _GPU_80),
        GpuModel("H100-94GB", 95830, _H100_94),
        GpuModel("H200-141GB", 143771, _H200),
        GpuModel("L4", 23034),
        GpuModel("L40S", 46068),
        GpuModel("A10G", 23028),
        GpuModel("T4", 15360),
    )
}


def gpu_model(name: str | None) -> GpuModel | None:
    """Look up a GPU model by its exact name (case-insensitive), or by a family name that has
    one model only (``H200``); a family with several memory sizes (``A100``) is an error, never
    a guess: their MIG profiles differ. ValueError lists the valid names."""
    if not name:
        return None
    wanted = name.strip().upper()
    for model in GPU_MODELS.values():
        if model.name.upper() == wanted:
            return model
    family = [m for m in GPU_MODELS.values() if m.name.upper().split("-")[0] == wanted]
    if len(family) == 1:
        return family[0]
    if family:
        choices = " or ".join(m.name for m in family)
        raise ValueError(f"ambiguous GPU model {name!r}: {choices} (their memory and MIG "
                         "profiles differ)")
    valid = ", ".join(GPU_MODELS)
    raise ValueError(f"unknown GPU model {name!r}; valid models: {valid}")


def size_gpu(busy: float, memory: float, model: GpuModel | None) -> dict[str, float]:
    """Resources for a container that keeps ``busy`` GPUs busy and holds ``memory`` bytes.

    Returns ``{"nvidia.com/gpu": n}`` or ``{"nvidia.com/mig-<profile>": 1}``; empty when the
    container shows no GPU use at all.
    """
    if not (busy > 0 or memory > 0):
        return {}
    devices = max(1, math.ceil(busy - 1e-9))
    if model is not None:
        devices = max(devices, math.ceil(memory / model.memory_bytes - 1e-9))
        if devices == 1:
            for profile in sorted(model.mig, key=lambda p: (p.slices, p.memory_gb)):
                if profile.slices < MIG_SLICES and memory <= profile.memory_bytes and (
                    busy <= profile.compute
                ):
                    return {profile.resource: 1.0}
    return {GPU: float(devices)}


def devices_of(resource: str, busy: float, memory: float, model: GpuModel | None) -> float:
    """How many ``resource`` devices (whole GPUs, or instances of one MIG profile) cover
    ``busy`` GPUs and ``memory`` bytes: the bounds of a container are counted in its target's
    resource, so ``target``, ``lowerBound`` and ``upperBound`` name the same key."""
    if not (busy > 0 or memory > 0):
        return 0.0
    profile = next((p for p in (model.mig if model else ()) if p.resource == resource), None)
    if profile is not None:
        return float(max(1, math.ceil(busy / profile.compute - 1e-9),
                         math.ceil(memory / profile.memory_bytes - 1e-9)))
    devices = max(1, math.ceil(busy - 1e-9))
    if model is not None:
        devices = max(devices, math.ceil(memory / model.memory_bytes - 1e-9))
    return float(devices)


WHOLE, MIG, SHARED = "whole", "mig", "shared"
GPU_OPTIONS = (WHOLE, MIG, SHARED)
# A share reserves whole GiB of GPU memory (MPS's pinned-memory limit and DRA's capacity
# selectors are quantities) and whole percents of compute (MPS's active-thread percentage).
GIB = 2**30
PERCENT = 100
SHARED_MIN_HISTORY_H = 1.0  # a new container holds a whole device until it has this history


@dataclass(frozen=True)
class GpuPlan:
    """How a container's GPU recommendation is held: the devices it counts for (whole GPUs,
    MIG slices / 7, or the fraction of a shared device) and the GPU memory it reserves
    (bytes; NaN when the model is unknown and whole GPUs are used)."""

    option: str
    resource: str  # what a pod requests: nvidia.com/gpu, nvidia.com/mig-..., or a shared GPU
    devices: float
    reserved_bytes: float


def plan_gpu(option: str, busy: float, memory: float, model: GpuModel | None,
             history_h: float = float("inf")) -> GpuPlan | None:
    """The ``option`` (``whole``, ``mig``, ``shared``) for a container that keeps ``busy``
    GPUs busy and holds ``memory`` bytes (the estimator's targets, margins included); a MIG
    option without a fitting profile is whole GPUs, a shared one without a known device memory
    or needing more than one device is whole GPUs too, and so is a container with less than
    ``SHARED_MIN_HISTORY_H`` of history (its GPU memory, a hard limit when shared, may still
    be growing). None without GPU use."""
    if not (busy > 0 or memory > 0):
        return None
    if option == SHARED and model is not None and busy <= 1 and memory <= model.memory_bytes \
            and history_h >= SHARED_MIN_HISTORY_H:
        memory_share = math.ceil(memory / GIB - 1e-9) * GIB / model.memory_bytes
        share = min(1.0, max(memory_share, math.ceil(busy * PERCENT - 1e-9) / PERCENT))
        return GpuPlan(SHARED, GPU_SHARED, share, share * model.memory_bytes)
    if option == MIG and model is not None:
        (resource, count), = size_gpu(busy, memory, model).items()
        profile = next((p for p in model.mig if p.resource == resource), None)
        if profile is not None:
            return GpuPlan(MIG, resource, count * profile.compute, count * profile.memory_bytes)
    whole = size_gpu(busy, memory, None if model is None else
                     GpuModel(model.name, model.memory_mib))[GPU]
    return GpuPlan(WHOLE, GPU, whole, whole * model.memory_bytes if model else float("nan"))


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


def product_gpu_model(product: str) -> GpuModel | None:
    """The model of a ``modelName`` or ``nvidia.com/gpu.product`` value (None: not one Tidal
    knows, or an A100 without its memory size)."""
    name = model_from_product(product)
    return GPU_MODELS.get(name) if name else None
