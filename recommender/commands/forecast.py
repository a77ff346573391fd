"""``tidal-recommender forecast``: each workload's demand peak over the coming lead, per step."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import IO

import numpy as np

from recommender.commands.common import UsageError, add_source_args, load_samples
from recommender.duration import parse_duration
from recommender.history import CPU, GPU, Samples
from recommender.logic.forecast import DemandGrid, demand_grid, peak_forecast

HELP = "forecast each workload's summed demand peak over the next --lead, at every --every"
EXAMPLES = """examples:
  tidal-recommender forecast --history bitbrains.csv.gz --lead 15m --every 5m --output f.csv
  tidal-recommender forecast --history genai.csv.gz --signal gpu --lead 30m

The CSV has the columns timestamp,namespace,workload,signal,forecast: at each timestamp t (a
multiple of --every, Unix seconds) the forecast of the workload's demand summed over its pods
(cpu: cores, gpu: busy GPUs) for the peak over [t, t + lead], from samples before t only.
"""
SIGNALS = {"cpu": CPU, "gpu": GPU}
FORECAST_COLUMNS = ("timestamp", "namespace", "workload", "signal", "forecast")


def add_signal_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--signal", choices=tuple(SIGNALS),
        help="demand summed over a workload's pods: cpu (cores) or gpu (busy GPUs); default "
        "cpu, or gpu when the history has no cpu samples",
    )


def positive_duration(args: argparse.Namespace, name: str) -> float:
    """The duration in option ``--name``, in seconds (> 0)."""
    text = getattr(args, name.replace("-", "_"))
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--{name}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--{name} must be positive, got {text!r}")
    return seconds


def signal_grid(samples: Samples, signal: str | None, step: float) -> tuple[str, DemandGrid]:
    """The chosen signal's demand grid (cpu unless the history has none, then gpu)."""
    if not len(samples):
        raise UsageError("the history is empty")
    if signal is None:
        signal = "cpu" if (samples.resource == CPU).any() else "gpu"
    grid = demand_grid(samples, SIGNALS[signal], step)
    if not grid.keys:
        raise UsageError(f"the history has no {SIGNALS[signal]} samples for --signal {signal}")
    return signal, grid


def configure(parser: argparse.ArgumentParser) -> None:
    add_source_args(parser)
    add_signal_args(parser)
    parser.add_argument("--lead", default="10m",
                        help="forecast the peak over [t, t + lead]: the workload's cold start "
                        "plus one step (default 10m)")
    parser.add_argument("--every", default="5m",
                        help="a forecast at every multiple of this in Unix time (default 5m)")
    parser.add_argument("--output", type=Path, help="CSV to write (default stdout)")


def run(args: argparse.Namespace) -> int:
    lead = positive_duration(args, "lead")
    every = positive_duration(args, "every")
    signal, grid = signal_grid(load_samples(args), args.signal, every)
    if args.output is None:
        write_forecasts(grid, signal, lead, sys.stdout)
    else:
        with open(args.output, "w", newline="") as out:
            write_forecasts(grid, signal, lead, out)
    return 0


def write_forecasts(grid: DemandGrid, signal: str, lead_s: float, out: IO[str]) -> None:
    """One row per workload and step, from the step after its first sample to the step after
    its last; steps with no sample in the last lead have no forecast and no row."""
    lead = max(1, math.ceil(lead_s / grid.step - 1e-9))
    buckets = grid.values.shape[1]
    forecast = peak_forecast(grid.values, np.arange(buckets + 1), lead, grid.step)
    seen = np.isfinite(grid.values)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FORECAST_COLUMNS)
    for row, (namespace, workload) in enumerate(grid.keys):
        present = np.flatnonzero(seen[row])
        first, last = int(present[0]) + 1, int(present[-1]) + 1
        for b in range(first, last + 1):
            value = forecast[row, b]
            if np.isfinite(value):
                writer.writerow((f"{grid.t0 + b * grid.step:.0f}", namespace, workload, signal,
                                 f"{value:.6g}"))
