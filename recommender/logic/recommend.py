"""From model state to policy-capped container recommendations.

strategy bounds -> GPU whole devices / MIG -> ``uncappedTarget`` -> VPA policy capping.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY
from recommender.logic.estimators import SAMPLES_PER_DAY
from recommender.logic.gpu import GpuModel, GpuModels, devices_of, size_gpu
from recommender.logic.strategies import DAY_S, Strategy
from recommender.model.state import ContainerKey, MemoryOverrides, Overrides, UsageModel
from recommender.policy import apply_policy
from recommender.quantity import CPU as K8S_CPU
from recommender.quantity import MEMORY as K8S_MEMORY
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import IN_PLACE_MODES, ContainerPolicy, Vpa

# Which target a recommendation carries (see recommender.logic.tidal): one that holds for a pod's
# life whatever hour it is computed at, the coming hours' (pods resized in place), or each
# VPA's choice by its updateMode (the in-cluster recommender and replay).
HELD = "held"
NEXT_HOURS = "next-hours"
BY_UPDATE_MODE = "update-mode"
HORIZONS = (HELD, NEXT_HOURS, BY_UPDATE_MODE)


def vpa_index(vpas: Iterable[Vpa]) -> dict[tuple[str, str], Vpa]:
    """VPAs by (namespace, ``Kind/name``); with several for one target the earliest wins."""
    index: dict[tuple[str, str], Vpa] = {}
    for vpa in sorted(vpas, key=lambda v: (v.creation_timestamp or "~", v.name)):
        if vpa.target_ref is not None:
            index.setdefault((vpa.namespace, vpa.target_ref.workload), vpa)
    return index


def memory_overrides(vpas: Iterable[Vpa]) -> Overrides:
    """AEP-8026's per-VPA memory fields (``oomBumpUpRatio``, ``oomMinBumpUp``,
    ``memoryAggregationIntervalSeconds``/``Count``) of each workload's VPA (the one
    :func:`vpa_index` picks), by container policy name; VPAs that set none are left out."""
    out: dict[tuple[str, str], dict[str, MemoryOverrides]] = {}
    for workload, vpa in vpa_index(vpas).items():
        table = {
            p.container_name: MemoryOverrides(
                p.oom_bump_up_ratio, p.oom_min_bump_up, p.memory_aggregation_interval_s,
                p.memory_aggregation_interval_count,
            )
            for p in vpa.container_policies
        }
        if any(o != MemoryOverrides() for o in table.values()):
            out[workload] = table  # a policy without them shields its container from "*"
    return out


def configure_model(model: UsageModel, vpas: Iterable[Vpa]) -> UsageModel:
    """Give the model the VPAs' per-VPA memory parameters (before it ingests samples)."""
    model.configure(memory_overrides(vpas))
    return model


def _policy(vpa: Vpa | None, container: str) -> ContainerPolicy | None:
    return vpa.policy_for(container) if vpa else None


def pod_shares(
    keys: Sequence[ContainerKey], rows: np.ndarray, vpas: dict[tuple[str, str], Vpa]
) -> np.ndarray:
    """1 / (containers of the workload that get a recommendation), per row."""
    workloads = [keys[row][:2] for row in rows.tolist()]
    active: dict[tuple[str, str], int] = defaultdict(int)
    for row, workload in zip(rows.tolist(), workloads, strict=True):
        policy = _policy(vpas.get(workload), keys[row].container) if vpas else None
        if policy is None or policy.mode != "Off":
            active[workload] += 1
    return np.array([1.0 / max(active[workload], 1) for workload in workloads])


def next_hours_rows(
    keys: Sequence[ContainerKey], rows: np.ndarray, vpas: dict[tuple[str, str], Vpa],
    horizon: str,
) -> np.ndarray:
    """Which ``rows`` are sized for the coming hours under ``horizon`` (:data:`HORIZONS`):
    by ``BY_UPDATE_MODE``, those whose VPA's pods are resized in place."""
    if horizon not in HORIZONS:
        raise ValueError(f"unknown horizon {horizon!r}; valid: {', '.join(HORIZONS)}")
    if horizon != BY_UPDATE_MODE:
        return np.full(len(rows), horizon == NEXT_HOURS)
    in_place = {k for k, v in vpas.items() if v.update_mode in IN_PLACE_MODES}
    return np.array([keys[row][:2] in in_place for row in rows.tolist()], dtype=bool)


def recommend(
    model: UsageModel,
    strategy: Strategy,
    vpas: Iterable[Vpa] = (),
    gpu: GpuModel | None = None,
    rows: np.ndarray | None = None,
    horizon: str = HELD,
    gpu_of: GpuModels | None = None,
) -> list[ContainerRecommendation]:
    """Recommendations for every aggregate with history (or ``rows``), policies applied;
    ``horizon`` chooses held or next-hours targets (:func:`next_hours_rows`). GPUs are sized
    for each workload's model in ``gpu_of``, else for ``gpu``."""
    index = vpa_index(vpas)
    rows = model.rows_with_history() if rows is None else rows
    if len(rows) == 0:
        return []
    bounds = strategy.estimate(
        model, rows, pod_shares(model.keys, rows, index),
        next_hours_rows(model.keys, rows, index, horizon),
    )
    fields = ("target", "lower", "upper")
    cpu = [getattr(bounds[CPU], f).tolist() for f in fields]
    memory = [getattr(bounds[MEMORY], f).tolist() for f in fields]
    busy = [getattr(bounds[GPU], f).tolist() for f in fields] if GPU in bounds else None
    held = [getattr(bounds[GPU_MEMORY], f).tolist() for f in fields] if GPU in bounds else None
    out = []
    for i, (row, ev) in enumerate(zip(rows.tolist(), evidence(model, rows), strict=True)):
        key = model.keys[row]
        maps = [{K8S_CPU: cpu[f][i], K8S_MEMORY: memory[f][i]} for f in range(3)]
        if busy is not None and held is not None:
            ev["gpuBusy"], ev["gpuMemory"] = busy[0][i], held[0][i]  # for plan_gpu
            model_of = gpu_of.get((key.namespace, key.workload), gpu) if gpu_of else gpu
            target = size_gpu(busy[0][i], held[0][i], model_of)
            maps[0].update(target)
            for resource in target:  # bounds in the target's resource: one key in all maps
                for f in (1, 2):
                    maps[f][resource] = devices_of(resource, busy[f][i], held[f][i], model_of)
        rec = ContainerRecommendation(
            container=key.container,
            namespace=key.namespace,
            workload=key.workload,
            target=maps[0],
            lower_bound=maps[1],
            upper_bound=maps[2],
            uncapped_target=dict(maps[0]),
            evidence=ev,
        )
        policy = _policy(index.get((key.namespace, key.workload)), key.container) if index else None
        capped = apply_policy(rec, policy)
        if capped is not None:
            out.append(capped)
    return out


def evidence(model: UsageModel, rows: np.ndarray) -> list[dict[str, float | int]]:
    """History behind each row's numbers (CPU samples when there are any, as upstream)."""
    has_cpu = model.sample_count[rows] > 0
    first = np.where(has_cpu, model.first_sample[rows], model.any_first[rows])
    last = np.where(has_cpu, model.last_sample[rows], model.any_last[rows])
    count = np.where(has_cpu, model.sample_count[rows], model.any_count[rows])
    span = np.maximum(last - first, 0.0)
    conf = np.minimum(span / DAY_S, count / SAMPLES_PER_DAY)
    return [
        {
            "historySpanHours": round(s / 3600.0, 2),
            "samples": round(c),  # one-minute samples
            "firstSample": f,
            "lastSample": la,
            "oomKills": o,
            "confidenceDays": round(k, 3),
        }
        for s, c, f, la, o, k in zip(
            span.tolist(), count.tolist(), first.tolist(), last.tolist(),
            model.oom_count[rows].tolist(), conf.tolist(), strict=True,
        )
    ]
