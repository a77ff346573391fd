"""GPU release schedule: GPUs a workload holds against GPUs its demand needs, hour by hour.

A GPU leaves a pod only with the pod, so the GPUs a serving workload could give back to batch
or training work are the replicas it would not need in its quiet hours. Per GPU workload:

- *needed* in each UTC hour of the day: the replicas an HPA at ``TARGET_UTILIZATION`` would
  keep for the busiest moment of that hour over the history (the peak of the busy GPUs summed
  over its pods, the same demand the forecast uses) x the GPUs each replica holds;
- *held*: its replicas now x the GPUs each holds;
- *freed per day*: the sum over the hours of held - needed;
- the HPA that would release them: ``tidal_forecast`` on busy GPUs, AverageValue = target x
  GPUs per replica, from the quietest to the busiest hour's replicas.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import yaml

from recommender.history import GPU, Samples
from recommender.logic.forecast import demand_grid
from recommender.report.model import GpuRelease, GpuReport

TARGET_UTILIZATION = 0.8  # the HPA's usual target: busy GPUs per GPU held
HOURS = 24


def suggested_hpa(release: GpuRelease) -> dict[str, object]:
    """The ``autoscaling/v2`` HPA that releases the GPUs: tidal_forecast on busy GPUs."""
    kind, name = release.workload.split("/", 1)
    average = f"{round(TARGET_UTILIZATION * release.gpus_per_replica * 1000)}m"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": release.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": release.min_replicas,
            "maxReplicas": release.max_replicas,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "tidal_forecast", "selector": {"matchLabels": {
                    "workload": name, "kind": kind, "signal": "gpu"}}},
                "target": {"type": "AverageValue", "averageValue": average},
            }}],
        },
    }


def suggested_hpa_yaml(release: GpuRelease) -> str:
    return yaml.safe_dump(suggested_hpa(release), sort_keys=False)


def gpu_releases(samples: Samples | None, gpus: Sequence[GpuReport]) -> list[GpuRelease]:
    """The schedule of every GPU workload (reports and samples) that holds GPUs some hours do
    not need, most GPU-hours to free first."""
    if samples is None or not gpus:
        return []
    per_replica: dict[tuple[str, str], float] = defaultdict(float)
    replicas: dict[tuple[str, str], int | None] = {}
    for g in gpus:
        per_replica[(g.namespace, g.workload)] += g.allocated_gpus
        replicas[(g.namespace, g.workload)] = g.replicas
    gpu_samples = samples.select(samples.resource == GPU)
    grid = demand_grid(gpu_samples, GPU, 3600.0)
    out = []
    for row, key in enumerate(grid.keys):
        held_per_replica = per_replica.get(key, 0.0)
        if held_per_replica <= 0:
            continue
        hours = ((grid.t0 / 3600 + np.arange(grid.values.shape[1])) % HOURS).astype(int)
        peaks = []
        for hour in range(HOURS):
            values = grid.values[row, hours == hour]
            values = values[np.isfinite(values)]
            peaks.append(float(values.max()) if len(values) else 0.0)
        needed = tuple(
            max(1, math.ceil(p / (TARGET_UTILIZATION * held_per_replica) - 1e-9))
            * held_per_replica for p in peaks)
        count = replicas.get(key) or _most_pods(gpu_samples, key)
        release = GpuRelease(key[0], key[1], held_per_replica, count, needed, tuple(peaks))
        if release.freed_gpu_hours_per_day > 0:  # nothing to give back: no schedule
            out.append(release)
    return sorted(out, key=lambda r: -r.freed_gpu_hours_per_day)


def _most_pods(samples: Samples, key: tuple[str, str]) -> int:
    """The most pods of a workload reporting in one hour."""
    mask = (samples.namespace == key[0]) & (samples.workload == key[1])
    if not mask.any():
        return 1
    hours = np.floor(samples.timestamp[mask] / 3600)
    pods = samples.pod[mask]
    per_hour: dict[float, set[str]] = defaultdict(set)
    for hour, pod in zip(hours.tolist(), pods.tolist(), strict=True):
        per_hour[hour].add(pod)
    return max(len(p) for p in per_hour.values())
