"""Scoring a replay against the usage that followed each recommendation.

For CPU and memory, every usage sample at time ``s`` in ``[t_k, t_k + every)`` is compared with
the target published at step ``t_k``:

- ``slack`` = sum(max(target - usage, 0)) / sum(target): the share of the request left idle;
- ``under`` = share of samples with usage > target (throttled CPU / memory over the request);
- ``under_hours`` = share of container-hours (clock hours) with any sample over the target
  (for memory with limit = request: an OOM-kill hour).

For GPUs the replay's devices (``nvidia.com/gpu`` rows: whole GPUs, a MIG profile as slices / 7,
a shared device as its fraction) are compared with busy GPUs (slack, under, under_hours
alike; ``mean_target`` is the devices per pod), and with the GPU memory the plan reserves
(``gpu_memory`` rows): ``memory_over`` = share of GPU-memory samples above it. For shared
devices, ``contention`` = share of GPU samples whose device, with the pods of that step packed
first-fit by reserved memory onto devices of the model, is more than fully busy at that minute.
Samples before ``start`` (the warm-up) or without a published recommendation are not scored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from recommender.backtest.replay import GPU_MEMORY_ROW, HOUR_S, ReplayTable, key_index
from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, Samples
from recommender.logic.gpu import MIG, SHARED, GpuModel
from recommender.quantity import CPU as K8S_CPU
from recommender.quantity import GPU as K8S_GPU
from recommender.quantity import MEMORY as K8S_MEMORY

SCORED = (CPU, MEMORY, GPU)


@dataclass(frozen=True)
class Score:
    """Scores of one resource over a set of samples."""

    samples: int
    slack: float
    under: float
    under_hours: float
    hours: int
    mean_target: float
    mean_usage: float
    memory_over: float | None = None  # GPUs only: GPU memory above the reservation
    contention: float | None = None  # GPUs only: co-located pods busier than one device

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Backtest:
    """One strategy's scores: overall and per workload (``namespace/Kind/name/container``)."""

    strategy: str
    overall: dict[str, Score]
    workloads: dict[str, dict[str, Score]]

    def to_json(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "overall": {r: s.to_json() for r, s in self.overall.items()},
            "workloads": {
                w: {r: s.to_json() for r, s in scores.items()}
                for w, scores in self.workloads.items()
            },
        }


def gpu_matrices(table: ReplayTable, gpu: GpuModel | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Devices and reserved GPU memory (bytes, NaN if unknown) per (step, key)."""
    return table.matrix(K8S_GPU), table.matrix(GPU_MEMORY_ROW)


def score_samples(
    keys: np.ndarray, times: np.ndarray, usage: np.ndarray, target: np.ndarray
) -> Score:
    """Score aligned arrays (already restricted to scored samples)."""
    n = len(usage)
    if n == 0:
        return Score(0, float("nan"), float("nan"), float("nan"), 0, float("nan"), float("nan"))
    over = usage > target
    hour = np.floor(times / HOUR_S).astype(np.int64)
    hour -= hour.min()
    container_hour = keys.astype(np.int64) * (int(hour.max()) + 1) + hour
    group = np.unique(container_hour, return_inverse=True)[1].reshape(-1)
    hours = int(group.max()) + 1
    over_hours = np.bincount(group, weights=over.astype(np.float64), minlength=hours) > 0
    total = float(target.sum())
    return Score(
        samples=n,
        slack=float(np.maximum(target - usage, 0.0).sum() / total) if total > 0 else 0.0,
        under=float(over.mean()),
        under_hours=float(over_hours.mean()),
        hours=hours,
        mean_target=float(target.mean()),
        mean_usage=float(usage.mean()),
    )


def score(
    table: ReplayTable,
    samples: Samples,
    strategy: str,
    start: float | None = None,
    gpu: GpuModel | None = None,
    per_workload: bool = True,
    gpu_option: str = MIG,
) -> Backtest:
    """Score ``table`` (a replay of ``samples``) from ``start`` on."""
    samples = samples.sorted_by_time()
    keys, sample_key = key_index(samples)
    if keys != table.keys:  # same samples, same first-seen order; map defensively otherwise
        position = {k: i for i, k in enumerate(table.keys)}
        sample_key = np.array([position.get(keys[i], -1) for i in sample_key], dtype=np.intp)
    times = samples.timestamp
    step = np.searchsorted(table.steps, times, side="right") - 1
    ok = (step >= 0) & (sample_key >= 0)
    if start is not None:
        ok &= times >= start
    matrices = {CPU: table.matrix(K8S_CPU), MEMORY: table.matrix(K8S_MEMORY)}
    devices, capacity = gpu_matrices(table, gpu)
    matrices[GPU] = devices
    overall: dict[str, Score] = {}
    workloads: dict[str, dict[str, Score]] = {}
    for resource in SCORED:
        mask = ok & (samples.resource == resource)
        idx = np.flatnonzero(mask)
        target = matrices[resource][step[idx], sample_key[idx]]
        has = ~np.isnan(target)
        idx, target = idx[has], target[has]
        if len(idx) == 0:
            continue
        k, t, u = sample_key[idx], times[idx], samples.value[idx]
        extra: dict[str, float | None] = {}
        if resource == GPU:
            extra["memory_over"] = _memory_over(samples, sample_key, step, ok, capacity)
            if gpu_option == SHARED:  # whole GPUs and MIG slices are not shared
                extra["contention"] = _contention(samples, sample_key, step, idx, devices,
                                                  capacity, gpu)
        overall[resource] = _with(score_samples(k, t, u, target), **extra)
        if per_workload:
            order = np.argsort(k, kind="stable")
            bounds = np.flatnonzero(np.diff(k[order])) + 1
            for part in np.split(order, bounds):
                key = table.keys[int(k[part[0]])]
                name = f"{key.namespace}/{key.workload}/{key.container}"
                workloads.setdefault(name, {})[resource] = score_samples(
                    k[part], t[part], u[part], target[part]
                )
    return Backtest(strategy, overall, dict(sorted(workloads.items())))


def _memory_over(
    samples: Samples, sample_key: np.ndarray, step: np.ndarray, ok: np.ndarray,
    capacity: np.ndarray,
) -> float | None:
    idx = np.flatnonzero(ok & (samples.resource == GPU_MEMORY))
    cap = capacity[step[idx], sample_key[idx]]
    known = ~np.isnan(cap)
    if not known.any():
        return None
    return float((samples.value[idx][known] > cap[known]).mean())


def _with(score_: Score, **extra: float | None) -> Score:
    return Score(**{**asdict(score_), **{k: v for k, v in extra.items() if v is not None}})


def _contention(
    samples: Samples, sample_key: np.ndarray, step: np.ndarray, idx: np.ndarray,
    devices: np.ndarray, reserved: np.ndarray, gpu: GpuModel | None,
) -> float | None:
    """Share of the scored GPU samples ``idx`` on a shared device busier than 1 (see the
    module docstring); None without shared devices or a known device memory."""
    share = devices[step[idx], sample_key[idx]]
    if gpu is None or not (share < 1).any():
        return None
    pods = samples.pod[idx]
    contended = np.zeros(len(idx), dtype=bool)
    for s in np.unique(step[idx]).tolist():
        in_step = np.flatnonzero(step[idx] == s)
        shared = in_step[share[in_step] < 1]
        if not len(shared):
            continue
        # First fit, largest reservation first: one device per pod instance of the step.
        instances: dict[tuple[int, str], float] = {}
        for i in shared.tolist():
            instances.setdefault((int(sample_key[idx[i]]), str(pods[i])),
                                 float(reserved[s, sample_key[idx[i]]]))
        free: list[float] = []
        device_of: dict[tuple[int, str], int] = {}
        for inst, need in sorted(instances.items(), key=lambda kv: -kv[1]):
            slot = next((d for d, room in enumerate(free) if room >= need), None)
            if slot is None:
                free.append(gpu.memory_bytes)
                slot = len(free) - 1
            free[slot] -= need
            device_of[inst] = slot
        device = np.array([device_of[(int(sample_key[idx[i]]), str(pods[i]))]
                           for i in shared.tolist()])
        minute = np.floor(samples.timestamp[idx[shared]] / 60).astype(np.int64)
        groups, inverse = np.unique(device * (1 << 40) + minute, return_inverse=True)
        busy = np.bincount(inverse, weights=samples.value[idx[shared]], minlength=len(groups))
        contended[shared] = busy[inverse] > 1.0 + 1e-9
    return float(contended.mean())
