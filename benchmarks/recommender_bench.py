"""Recommender engine benchmark: ingest rate, recommendation time, state per container.

Run: .venv/bin/python benchmarks/recommender_bench.py [--samples 10000000]
Targets (issue 2): >= 10 M samples/s ingested on one core; 100k container recommendations
< 1 s; < 4 KB of cpu+memory state per container.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from recommender.history import CPU, MEMORY
from recommender.logic.recommend import recommend
from recommender.logic.strategies import VpaStrategy
from recommender.model.state import ContainerKey, UsageModel

DAY = 86400.0


def build(containers: int) -> tuple[UsageModel, np.ndarray]:
    model = UsageModel()
    slots = np.array(
        [model.slot("ns", f"Deployment/w{i // 2}", f"w{i // 2}-pod", f"c{i % 2}")
         for i in range(containers)],
        dtype=np.intp,
    )
    return model, slots


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_ingest(containers: int, samples: int, batches: int) -> None:
    rng = np.random.default_rng(1)
    model, slots = build(containers)
    per = samples // batches
    t0 = 1_790_000_000.0
    cpu_s = mem_s = 0.0
    for b in range(batches):
        pick = slots[rng.integers(0, containers, per)]
        times = np.full(per, t0 + b * 60.0)
        cpu = rng.lognormal(-1, 1, per)
        mem = rng.lognormal(19, 1, per)
        cpu_s += timed(lambda: model.ingest_arrays(CPU, pick, times, cpu))  # noqa: B023
        mem_s += timed(lambda: model.ingest_arrays(MEMORY, pick, times, mem))  # noqa: B023
    n = per * batches
    print(f"ingest cpu     {containers:>7} containers  {n:>10,} samples  "
          f"{n / cpu_s / 1e6:6.1f} M samples/s")
    print(f"ingest memory  {containers:>7} containers  {n:>10,} samples  "
          f"{n / mem_s / 1e6:6.1f} M samples/s")


def bench_recommend(containers: int) -> None:
    rng = np.random.default_rng(2)
    model, slots = build(containers)
    t0 = 1_790_000_000.0
    for day in range(8):  # 8 days, 20 samples a day per container
        n = containers * 20
        pick = np.repeat(slots, 20)
        times = t0 + day * DAY + rng.uniform(0, DAY, n)
        model.ingest_arrays(CPU, pick, times, rng.lognormal(-1, 1, n))
        model.ingest_arrays(MEMORY, pick, times, rng.lognormal(19, 1, n))
    rows = model.rows_with_history()
    strategy = VpaStrategy()
    shares = np.full(len(rows), 0.5)
    numeric = min(timed(lambda: strategy.estimate(model, rows, shares)) for _ in range(3))
    full = timed(lambda: recommend(model, strategy))
    per_container = model.state_bytes_per_aggregate((CPU, MEMORY))
    print(f"recommend      {containers:>7} containers  estimate {numeric * 1000:7.1f} ms  "
          f"with objects {full * 1000:7.1f} ms  state {per_container:,.0f} B/container")
    assert model.find(ContainerKey("ns", "Deployment/w0", "c0")) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, one process, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    bench_ingest(100_000, args.samples, 10)
    for containers in (10_000, 100_000):
        bench_recommend(containers)


if __name__ == "__main__":
    main()
