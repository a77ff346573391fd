"""GPU release schedule: GPUs held against GPUs needed by hour, and the HPA that frees them."""

from __future__ import annotations

import numpy as np
import yaml

from recommender.history import Samples
from recommender.report.model import GpuReport
from recommender.report.release import gpu_releases, suggested_hpa, suggested_hpa_yaml

DAY = 86400


def _report(workload: str, replicas: int | None, gpus: float) -> GpuReport:
    return GpuReport("ml", workload, "server", replicas, "A100-80GB", {"nvidia.com/gpu": gpus},
                     gpus, None, None, None, None, None, {}, [])


def _samples(busy_hours: range, busy: float, quiet: float, days: int = 3) -> Samples:
    """Two pods of ml/Deployment/llm sharing the summed busy GPUs, one sample a minute."""
    rows = []
    for t in range(1_790_035_200, 1_790_035_200 + days * DAY, 60):
        total = busy if (t % DAY) // 3600 in busy_hours else quiet
        for pod in ("llm-a", "llm-b"):
            rows.append((t, "ml", "Deployment/llm", pod, "server", "gpu", total / 2))
    return Samples.from_rows(rows)


def test_needed_gpus_follow_the_busiest_moment_of_each_hour():
    (release,) = gpu_releases(_samples(range(12, 20), busy=6.0, quiet=1.0),
                              [_report("Deployment/llm", 2, 4)])
    assert (release.held, release.gpus_per_replica, release.replicas) == (8, 4, 2)
    # 6 busy GPUs at 80% of 4 per replica: 2 replicas (8 GPUs); quiet hours 1 replica.
    assert release.needed == tuple(8.0 if 12 <= h < 20 else 4.0 for h in range(24))
    assert release.freed_gpu_hours_per_day == 16 * 4
    assert release.busy_peak[13] == 6.0 and release.busy_peak[3] == 1.0
    hpa = suggested_hpa(release)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["external"]["metric"] == {"name": "tidal_forecast", "selector": {
        "matchLabels": {"workload": "llm", "kind": "Deployment", "signal": "gpu"}}}
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "3200m"}
    assert yaml.safe_load(suggested_hpa_yaml(release)) == hpa


def test_unknown_replicas_are_the_most_pods_seen_and_nothing_to_free_is_left_out():
    (release,) = gpu_releases(_samples(range(12, 20), busy=6.0, quiet=1.0),
                              [_report("Deployment/llm", None, 4)])
    assert release.replicas == 2
    assert gpu_releases(_samples(range(0, 24), busy=6.0, quiet=6.0),
                        [_report("Deployment/llm", 2, 4)]) == []
    assert gpu_releases(None, [_report("Deployment/llm", 2, 4)]) == []
    assert np.isclose(gpu_releases(_samples(range(0, 12), busy=3.0, quiet=0.5),
                                   [_report("Deployment/llm", 2, 4)])[0]
                      .freed_gpu_hours_per_day, 24 * 4)


def test_a_history_that_ended_long_ago_is_said_to_be_old():
    from recommender.report.build import stale_history

    end = 1_790_000_000.0
    note = stale_history(end, "2026-10-12T00:00:00Z")
    assert note is not None and note.startswith("The history ends 20 days before this report")
    assert stale_history(end, "2026-09-22T00:00:00Z") is None  # within a day
    assert stale_history(None, "2026-10-12T00:00:00Z") is None
    assert stale_history(end, "not a date") is None
