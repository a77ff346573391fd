"""The scorer on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.backtest.replay import ReplayTable
from recommender.backtest.score import score
from recommender.history import Samples
from recommender.logic.gpu import gpu_model
from recommender.model.state import ContainerKey

KEY = ContainerKey("shop", "Deployment/web", "app")


def table(records: list[tuple[int, str, float]], steps=(0.0, 3600.0)) -> ReplayTable:
    t = ReplayTable(3600.0, np.array(steps), [KEY])
    for step, resource, target in records:
        t.step.append(step)
        t.key.append(0)
        t.resource.append(resource)
        t.target.append(target)
        t.lower.append(target)
        t.upper.append(target)
    return t


def history(rows: list[tuple[float, str, float]]) -> Samples:
    return Samples.from_rows([(t, *KEY[:2], "web-1", KEY.container, r, v) for t, r, v in rows])


CPU_ROWS = [(0.0, "cpu", 1.0), (1800.0, "cpu", 3.0), (3600.0, "cpu", 0.5), (5400.0, "cpu", 1.0)]


def test_cpu_slack_under_and_hours():
    result = score(table([(0, "cpu", 2.0), (1, "cpu", 1.0)]), history(CPU_ROWS), "s")
    cpu = result.overall["cpu"]
    # idle: 1 + 0 + 0.5 + 0 over requests 2 + 2 + 1 + 1; one sample over (3 > 2), equal is not.
    assert cpu.slack == pytest.approx(1.5 / 6.0)
    assert cpu.under == pytest.approx(0.25)
    assert cpu.under_hours == pytest.approx(0.5) and cpu.hours == 2
    assert cpu.mean_target == pytest.approx(1.5) and cpu.mean_usage == pytest.approx(1.375)
    assert result.workloads["shop/Deployment/web/app"]["cpu"] == cpu


def test_warmup_and_unpublished_steps_are_not_scored():
    cpu = score(table([(0, "cpu", 2.0), (1, "cpu", 1.0)]), history(CPU_ROWS), "s",
                start=3600.0).overall["cpu"]
    assert (cpu.samples, cpu.slack, cpu.under, cpu.under_hours) == (2, 0.25, 0.0, 0.0)
    only_second = score(table([(1, "cpu", 1.0)]), history(CPU_ROWS), "s").overall["cpu"]
    assert only_second.samples == 2
    # Samples before the first step have no recommendation at all.
    early = score(table([(0, "cpu", 1.0)], steps=(3600.0,)), history(CPU_ROWS), "s")
    assert early.overall["cpu"].samples == 2


def test_memory_is_scored_like_cpu():
    rows = [(0.0, "memory", 100.0), (60.0, "memory", 300.0)]
    memory = score(table([(0, "memory", 200.0)]), history(rows), "s").overall["memory"]
    assert memory.slack == pytest.approx(100.0 / 400.0)
    assert memory.under_hours == 1.0


def test_gpu_devices_mig_profiles_and_memory():
    rows = [(0.0, "gpu", 0.5), (3600.0, "gpu", 0.5),
            (0.0, "gpu_memory", 50e9), (3600.0, "gpu_memory", 50e9)]
    # As replay writes them: a whole GPU (80 GB), then a 3g.40gb profile (3/7, 40 GB).
    t = table([(0, "nvidia.com/gpu", 1.0), (0, "gpu_memory", 80e9),
               (1, "nvidia.com/gpu", 3.0 / 7.0), (1, "gpu_memory", 40e9)])
    gpu = score(t, history(rows), "s", gpu=gpu_model("A100-80GB")).overall["gpu"]
    allocated = 1.0 + 3.0 / 7.0
    assert gpu.slack == pytest.approx(0.5 / allocated)
    assert gpu.under == pytest.approx(0.5)  # 0.5 busy > 3/7 of a GPU
    assert gpu.memory_over == pytest.approx(0.5)  # 50 GB fits 80 GB, not the 40 GB profile
    assert gpu.mean_target == pytest.approx(allocated / 2)  # devices per pod
    assert gpu.contention is None  # no shared device
    unknown = score(table([(0, "nvidia.com/gpu", 1.0), (0, "gpu_memory", float("nan"))]),
                    history(rows[:1] + rows[2:3]), "s").overall["gpu"]
    assert unknown.memory_over is None  # whole GPUs of an unknown model: memory unknown


def test_shared_devices_count_contention_of_co_located_pods():
    # Two pods, each reserving 30 GB (0.375 of an 80 GB device): packed onto one device.
    rows = []
    for minute, (a, b) in enumerate([(0.3, 0.3), (0.6, 0.6), (0.2, 0.1)]):
        rows += [(60.0 * minute, "gpu", a, "p-a"), (60.0 * minute, "gpu", b, "p-b")]
    t = table([(0, "nvidia.com/gpu", 0.375), (0, "gpu_memory", 30e9)])
    samples = Samples.from_rows((ts, *KEY[:2], pod, KEY.container, r, v)
                                for ts, r, v, pod in rows)
    gpu = score(t, samples, "s", gpu=gpu_model("A100-80GB"), gpu_option="shared"
                ).overall["gpu"]
    assert gpu.mean_target == pytest.approx(0.375)
    assert gpu.contention == pytest.approx(2 / 6)  # minute 1: 1.2 busy on one device


def test_empty_resource_is_left_out_and_json_is_plain():
    result = score(table([(0, "cpu", 2.0)]), history(CPU_ROWS[:1]), "s")
    assert set(result.overall) == {"cpu"}
    doc = result.to_json()
    assert doc["overall"]["cpu"]["samples"] == 1
    assert not any(isinstance(v, float) and math.isnan(v) for v in doc["overall"]["cpu"].values()
                   if v is not None)
