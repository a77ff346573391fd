"""Recommendation quality on the real traces under ``../shared/traces/`` (never committed).

For every trace: import, replay each strategy (hourly refresh, OOM feedback on), score from the
warm-up on, print the backtest table. Bitbrains is also split in two halves by VM id:
``tuned`` = ``(id // 2) % 2 == 1`` (the only VMs the tidal parameters were chosen on) and
``held-out`` = the others; the "manual" row scores the VMs' provisioned capacity.

Two bounds put the figures in perspective (not strategies: they look ahead or sweep on the
answer). ``hindsight`` sizes every container-hour at that hour's own peak: the least slack any
hourly-refreshed request can have without an under-provisioned hour. The memory frontier
replays a family of simple predictors (the peak of past hours, decaying with a half-life,
times a margin, at least the strategies' 250 MiB pod floor) on the held-out half, to show
which memory slack is reachable at which OOM rate.

    .venv/bin/python benchmarks/quality.py [--traces DIR] [--strategy S ...] [--html DIR]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.backtest.replay import HOUR_S, key_index, replay  # noqa: E402
from recommender.backtest.report import render_html, render_table  # noqa: E402
from recommender.backtest.score import Backtest, score_samples  # noqa: E402
from recommender.backtest.score import score as score_table  # noqa: E402
from recommender.history import Samples  # noqa: E402
from recommender.input.importers import (  # noqa: E402
    read_alibaba_2018,
    read_alibaba_genai,
    read_bitbrains,
)
from recommender.logic.gpu import gpu_model  # noqa: E402
from recommender.logic.strategies import POD_MIN_MEMORY_BYTES, STRATEGIES  # noqa: E402

DEFAULT_TRACES = ROOT.parent / "shared" / "traces"
STRATEGY_NAMES = ("vpa", "tidal", "percentile")
DAY_S = 86400.0
SCORED = ("cpu", "memory")
# The memory frontier: half-lives of the decaying peak (hours) and margins over it.
FRONTIER_HALF_LIVES_H = (24, 72, 168, 336, 720)
FRONTIER_MARGINS = (1.0, 1.15, 1.3)
# (name, path under traces, reader, warm-up, GPU model). GenAI spans 23 h: score from hour 1.
TRACES = (
    ("bitbrains-rnd", "bitbrains-rnd/2013-8.csv.gz", read_bitbrains, DAY_S, None),
    ("alibaba-genai-2026", "alibaba-genai-2026", read_alibaba_genai, HOUR_S, "A100-80GB"),
    ("alibaba-2018-cpu", "alibaba-2018-cpu/c_12104.csv", read_alibaba_2018, DAY_S, None),
)


def bitbrains_half(samples: Samples, tuned: bool) -> Samples:
    ids = np.array([int(w.split("/", 1)[1]) for w in samples.workload.tolist()])
    return samples.select(((ids // 2) % 2 == 1) == tuned)


def manual_baseline(path: Path, start: float, tuned: bool | None) -> Backtest:
    """The VMs' provisioned capacity scored like a recommendation."""
    with gzip.open(path, "rt") as handle:
        names = handle.readline().strip().split(",")
        data = np.loadtxt(handle, delimiter=",")
    col = {n: data[:, i] for i, n in enumerate(names)}
    vm, ts = col["vm"].astype(np.int64), col["timestamp"]
    keep = ts >= start
    if tuned is not None:
        keep &= ((vm // 2) % 2 == 1) == tuned
    overall = {}
    has_cpu = keep & (col["cpu_cores"] > 0) & (col["cpu_capacity_mhz"] > 0)
    per_core = col["cpu_capacity_mhz"][has_cpu] / col["cpu_cores"][has_cpu]
    overall["cpu"] = score_samples(vm[has_cpu], ts[has_cpu],
                                   col["cpu_usage_mhz"][has_cpu] / per_core,
                                   col["cpu_cores"][has_cpu])
    has_mem = keep & (col["memory_capacity_kb"] > 0)
    overall["memory"] = score_samples(vm[has_mem], ts[has_mem], col["memory_usage_kb"][has_mem],
                                      col["memory_capacity_kb"][has_mem])
    return Backtest("manual", overall, {})


def hourly_peaks(
    samples: Samples, resource: str
) -> tuple[Samples, np.ndarray, np.ndarray, np.ndarray]:
    """The samples of ``resource``, each one's container and clock hour, and the containers x
    hours matrix of hourly peaks (NaN where a container has no sample)."""
    part = samples.select(samples.resource == resource)
    _, key = key_index(part)
    hour = np.floor(part.timestamp / HOUR_S).astype(np.int64)
    hour -= hour.min()
    peaks = np.full((int(key.max()) + 1, int(hour.max()) + 1), -np.inf)
    np.maximum.at(peaks, (key, hour), part.value)
    peaks[np.isinf(peaks)] = np.nan
    return part, key, hour, peaks


def hindsight(samples: Samples, start: float) -> Backtest:
    """Each container-hour sized at its own peak: the floor of slack with no under hour."""
    overall = {}
    for resource in SCORED:
        if not (samples.resource == resource).any():
            continue
        part, key, hour, peaks = hourly_peaks(samples, resource)
        keep = part.timestamp >= start
        overall[resource] = score_samples(
            key[keep], part.timestamp[keep], part.value[keep], peaks[key, hour][keep]
        )
    return Backtest("hindsight", overall, {})


def memory_frontier(samples: Samples, start: float) -> list[tuple[str, float, float]]:
    """(predictor, slack, OOM hours) for decaying peaks of past hours times a margin, with the
    strategies' 250 MiB per-pod floor."""
    part, key, hour, peaks = hourly_peaks(samples, "memory")
    times, usage = part.timestamp, part.value
    keep = times >= start
    filled = np.nan_to_num(peaks, nan=0.0)
    rows = []
    for half_life in FRONTIER_HALF_LIVES_H:
        factor = 0.5 ** (1.0 / half_life)
        before = np.zeros_like(filled)  # the decayed peak of the hours before each hour
        running = np.zeros(filled.shape[0])
        for h in range(filled.shape[1]):
            before[:, h] = running
            running = np.maximum(running * factor, filled[:, h])
        for margin in FRONTIER_MARGINS:
            target = np.maximum(before[key, hour][keep] * margin, POD_MIN_MEMORY_BYTES)
            result = score_samples(key[keep], times[keep], usage[keep], target)
            rows.append((f"peak, half-life {half_life} h, x{margin:g}", result.slack,
                         result.under_hours))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--strategy", action="append", default=[])
    parser.add_argument("--html", type=Path, help="write one Pareto chart per trace here")
    args = parser.parse_args()
    names = args.strategy or list(STRATEGY_NAMES)
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: nothing to measure", file=sys.stderr)
        return 1
    for trace, rel, reader, warmup, gpu_name in TRACES:
        path = args.traces / rel
        if not path.exists():
            print(f"== {trace}: not found at {path}, skipped\n")
            continue
        t0 = time.perf_counter()
        samples = reader(path)
        gpu = gpu_model(gpu_name)
        start = float(samples.timestamp.min()) + warmup
        keys = {(a, b, c) for a, b, c in zip(samples.namespace, samples.workload,
                                             samples.container, strict=True)}
        print(f"== {trace}: {len(samples):,} samples, {len(keys)} containers, "
              f"imported in {time.perf_counter() - t0:.1f} s; scored from "
              f"{warmup / 3600:.0f} h after the start, hourly refresh")
        parts: dict[str, list[Backtest]] = {}
        halves = trace == "bitbrains-rnd"
        for name in names:
            t1 = time.perf_counter()
            table = replay(samples, STRATEGIES.create(name), HOUR_S, gpu=gpu,
                           controlled=("cpu", "memory", "nvidia.com/gpu"))
            elapsed = time.perf_counter() - t1
            print(f"   {name}: replay {elapsed:.1f} s ({len(table.steps)} steps)")
            parts.setdefault("all", []).append(score_table(table, samples, name, start, gpu))
            if halves:
                for label, tuned in (("tuned half", True), ("held-out half", False)):
                    part = bitbrains_half(samples, tuned)
                    parts.setdefault(label, []).append(
                        score_table(table, part, name, start, gpu, per_workload=False)
                    )
        if halves:
            for label, tuned in (("all", None), ("tuned half", True), ("held-out half", False)):
                parts[label].append(manual_baseline(path, start, tuned))
                part = samples if tuned is None else bitbrains_half(samples, tuned)
                parts[label].append(hindsight(part, start))
        else:
            parts["all"].append(hindsight(samples, start))
        for label, results in parts.items():
            print(f"\n-- {trace} ({label})")
            print(render_table(results), end="")
        if halves:
            print(f"\n-- {trace} (held-out half): memory frontier of peak predictors")
            for label, slack, oom in memory_frontier(bitbrains_half(samples, False), start):
                print(f"   {label:32s} slack {slack:.3f}  OOM hours {oom:.2%}")
        if args.html:
            args.html.mkdir(parents=True, exist_ok=True)
            (args.html / f"{trace}.html").write_text(render_html(parts["all"], f"{trace} backtest"))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
