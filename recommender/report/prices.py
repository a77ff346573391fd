"""Prices for the savings estimate: per core-hour, per GiB-hour, per GPU-hour (by model).

A month is 730 hours (8760 / 12), the convention cost tools use. Savings are an estimate:
requests times list prices, not a bill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from recommender.logic.gpu import GPU_MODELS, gpu_model
from recommender.quantity import CPU, GPU, MEMORY, MIG_PREFIX

HOURS_PER_MONTH = 730.0
GIB = 2**30
# Defaults in the range of on-demand cloud list prices; set your own with --price-*.
DEFAULT_CPU_CORE_HOUR = 0.0316
DEFAULT_MEMORY_GIB_HOUR = 0.0042
DEFAULT_GPU_HOUR = 2.50

# Compute share of one GPU per MIG device, from the engine's profile table.
MIG_GPU_SHARE: Mapping[str, float] = {
    p.resource: p.compute for m in GPU_MODELS.values() for p in m.mig
}


def gpu_equivalent(resource: str, count: float) -> float | None:
    """Whole GPUs a device count stands for: a ``mig-2g.20gb`` is 2/7 of a GPU.

    ``None`` for shared (time-sliced) GPUs, whose share is not known.
    """
    if resource == GPU:
        return count
    if resource.startswith(MIG_PREFIX):
        share = MIG_GPU_SHARE.get(resource)
        if share is None:  # an unknown profile: read its slices from the name
            try:
                share = int(resource.removeprefix(MIG_PREFIX).split("g.")[0]) / 7
            except ValueError:
                return None
        return count * share
    return None  # GPU_SHARED and unknown devices


@dataclass(frozen=True)
class Prices:
    """Hourly prices; ``gpu_by_model`` overrides ``gpu`` for a GPU model name."""

    cpu: float = DEFAULT_CPU_CORE_HOUR
    memory: float = DEFAULT_MEMORY_GIB_HOUR
    gpu: float = DEFAULT_GPU_HOUR
    gpu_by_model: Mapping[str, float] = field(default_factory=dict)
    currency: str = "USD"
    defaults_used: bool = False

    def gpu_hour(self, model: str | None) -> float:
        return self.gpu_by_model.get(model or "", self.gpu)

    def hourly(self, resource: str, amount: float, model: str | None = None) -> float:
        """Price of ``amount`` (cores, bytes, GPU equivalents) of ``resource`` for an hour."""
        if resource == CPU:
            return amount * self.cpu
        if resource == MEMORY:
            return amount / GIB * self.memory
        return amount * self.gpu_hour(model)

    def monthly(self, resource: str, amount: float, model: str | None = None) -> float:
        return self.hourly(resource, amount, model) * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "cpuCoreHour": self.cpu,
            "memoryGiBHour": self.memory,
            "gpuHour": self.gpu,
            "gpuHourByModel": dict(sorted(self.gpu_by_model.items())),
            "hoursPerMonth": HOURS_PER_MONTH,
            "defaults": self.defaults_used,
        }


def _price(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not a number") from None
    if not value >= 0:
        raise ValueError(f"{option}: price must be zero or more, got {text}")
    return value


def parse_prices(
    cpu: str | None, memory: str | None, gpu: Sequence[str], currency: str = "USD"
) -> Prices:
    """Build prices from CLI values; ``gpu`` entries are ``PRICE`` or ``MODEL=PRICE``."""
    default_gpu = DEFAULT_GPU_HOUR
    by_model: dict[str, float] = {}
    for entry in gpu:
        if "=" in entry:
            name, _, value = entry.partition("=")
            model = gpu_model(name.strip())
            assert model is not None
            by_model[model.name] = _price(value, "--price-gpu")
        else:
            default_gpu = _price(entry, "--price-gpu")
    return Prices(
        cpu=_price(cpu, "--price-cpu") if cpu is not None else DEFAULT_CPU_CORE_HOUR,
        memory=_price(memory, "--price-memory") if memory is not None else DEFAULT_MEMORY_GIB_HOUR,
        gpu=default_gpu,
        gpu_by_model=by_model,
        currency=currency,
        defaults_used=cpu is None and memory is None and not gpu,
    )
