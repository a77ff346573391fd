"""A seeded, realistic demo history: tidal web traffic, a nightly batch job, a leaking
service that gets OOM-killed, and GPU inference that idles at night."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, OOM, Samples

MI = 2**20
GI = 2**30
GB = 10**9
STEP_S = 60.0
DEMO_END = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


class _Builder:
    def __init__(self) -> None:
        self.parts: list[Samples] = []

    def series(
        self, ns: str, workload: str, pod: str, container: str, resource: str,
        times: np.ndarray, values: np.ndarray,
    ) -> None:
        n = len(times)
        self.parts.append(
            Samples.from_columns(
                times, [ns] * n, [workload] * n, [pod] * n, [container] * n, [resource] * n,
                np.maximum(values, 0.0),
            )
        )


def tide(times: np.ndarray) -> np.ndarray:
    """Daily traffic shape in [0, 1]: low at 04:00, high at 16:00, quieter at weekends."""
    hour = (times % 86400) / 3600
    weekday = ((times // 86400) + 3) % 7  # 1970-01-01 was a Thursday
    weekend = np.where(weekday >= 5, 0.6, 1.0)
    return (0.5 - 0.5 * np.cos(2 * np.pi * (hour - 4) / 24)) * weekend


def generate(days: int = 8, seed: int = 42, end: float = DEMO_END) -> Samples:
    """Build ``days`` of one-minute samples ending at ``end``."""
    rng = np.random.default_rng(seed)
    times = np.arange(end - days * 86400, end, STEP_S)
    n = len(times)
    b = _Builder()
    t = tide(times)

    def noise(scale: float) -> np.ndarray:
        return rng.lognormal(0.0, scale, n)

    # shop/web: three replicas with a sidecar, following the tide.
    for i in range(3):
        pod = f"web-6f7c9d8b5-{'abc'[i]}x{i}k2"
        b.series("shop", "Deployment/web", pod, "web", CPU, times,
                 (0.08 + 0.55 * t) * noise(0.25))
        b.series("shop", "Deployment/web", pod, "web", MEMORY, times,
                 (280 * MI + 180 * MI * t) * noise(0.04))
        b.series("shop", "Deployment/web", pod, "istio-proxy", CPU, times,
                 (0.01 + 0.04 * t) * noise(0.3))
        b.series("shop", "Deployment/web", pod, "istio-proxy", MEMORY, times,
                 60 * MI * noise(0.03))

    # shop/cart: leaks ~45Mi an hour until the 1Gi limit kills it, then starts over.
    limit = 1 * GI
    for i in range(2):
        pod = f"cart-84d5f6c7b9-q{i}z7m"
        leak = np.empty(n)
        level = 220 * MI + rng.uniform(0, 300) * MI
        kills: list[float] = []
        for j in range(n):
            level += 45 * MI / 60 * rng.uniform(0.6, 1.4)
            if level >= limit:
                kills.append(times[j])
                level = 220 * MI
            leak[j] = level
        b.series("shop", "Deployment/cart", pod, "cart", MEMORY, times, leak)
        b.series("shop", "Deployment/cart", pod, "cart", CPU, times,
                 (0.04 + 0.08 * t) * noise(0.3))
        if kills:
            k = np.array(kills)
            b.series("shop", "Deployment/cart", pod, "cart", OOM, k, np.full(len(k), limit))

    # batch/nightly-etl: a CronJob pod per night, 01:00 to 03:00, heavy on CPU and memory.
    day0 = times[0] - times[0] % 86400
    for d in range(days + 1):
        start = day0 + d * 86400 + 3600
        window = (times >= start) & (times < start + 7200)
        if not window.any():
            continue
        tt = times[window]
        m = len(tt)
        pod = f"nightly-etl-{int(start // 60)}-{rng.integers(10000, 99999)}"
        progress = (tt - start) / 7200
        b.series("batch", "CronJob/nightly-etl", pod, "etl", CPU, tt,
                 (1.2 + 0.6 * np.sin(np.pi * progress)) * rng.lognormal(0, 0.15, m))
        b.series("batch", "CronJob/nightly-etl", pod, "etl", MEMORY, tt,
                 (600 * MI + 1400 * MI * progress) * rng.lognormal(0, 0.03, m))

    # ml/llm-inference: two GPUs a pod by day, nearly idle by night; weights stay loaded.
    for i in range(2):
        pod = f"llm-inference-5c8d7f9b6-{i}w4rt"
        busy = np.clip((0.05 + 1.55 * t) * noise(0.12), 0, 2)
        b.series("ml", "Deployment/llm-inference", pod, "server", GPU, times, busy)
        b.series("ml", "Deployment/llm-inference", pod, "server", GPU_MEMORY, times,
                 (52 * GB + 10 * GB * t) * noise(0.02))
        b.series("ml", "Deployment/llm-inference", pod, "server", CPU, times,
                 (0.4 + 1.4 * t) * noise(0.2))
        b.series("ml", "Deployment/llm-inference", pod, "server", MEMORY, times,
                 (7 * GI + 1 * GI * t) * noise(0.02))

    # ml/embedder: a whole GPU requested, a small slice used: a MIG candidate.
    pod = "embedder-7b6c5d4f3-m9p2x"
    b.series("ml", "Deployment/embedder", pod, "embedder", GPU, times,
             np.clip((0.02 + 0.16 * t) * noise(0.2), 0, 1))
    b.series("ml", "Deployment/embedder", pod, "embedder", GPU_MEMORY, times,
             (5.5 * GB + 1.5 * GB * t) * noise(0.02))
    b.series("ml", "Deployment/embedder", pod, "embedder", CPU, times,
             (0.1 + 0.3 * t) * noise(0.25))
    b.series("ml", "Deployment/embedder", pod, "embedder", MEMORY, times,
             (1.5 * GI + 0.2 * GI * t) * noise(0.02))

    return Samples.concat(b.parts).sorted_by_time()
