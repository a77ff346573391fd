"""``tidal-recommender backtest``: replay strategies and score them against later usage."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from recommender.backtest import replicas_report
from recommender.backtest.replay import replay
from recommender.backtest.replicas import HpaSetup, backtest_replicas, replica_capacity
from recommender.backtest.replicas_report import ReplicaRun
from recommender.backtest.report import render_html, render_json, render_table
from recommender.backtest.score import score
from recommender.commands.common import UsageError, add_source_args, load_policies, load_samples
from recommender.commands.forecast import add_signal_args, positive_duration, signal_grid
from recommender.commands.replay import add_replay_args, every_seconds, lifetime_seconds
from recommender.duration import parse_duration
from recommender.logic.gpu import GPU_MODELS, gpu_model
from recommender.logic.strategies import STRATEGIES
from recommender.report.progress import Progress

HELP = "score strategies on a history: slack, under-provisioned samples and hours"
EXAMPLES = """examples:
  tidal-recommender backtest --history bitbrains.csv.gz --strategy vpa --strategy tidal
  tidal-recommender backtest --history h.csv --actuation creation --pod-lifetime 168h --html b.html
  tidal-recommender backtest --history bitbrains.csv.gz --replicas --cold-start 10m --html r.html
"""
DEFAULT_STRATEGIES = ("vpa", "tidal", "percentile")
SCORED_RESOURCES = ("cpu", "memory", "nvidia.com/gpu")  # GPUs too (MIG profiles included)


def configure(parser: argparse.ArgumentParser) -> None:
    add_source_args(parser)
    add_replay_args(parser, SCORED_RESOURCES)
    parser.add_argument(
        "--strategy", action="append", default=[],
        help=f"strategy to score (repeatable; default {', '.join(DEFAULT_STRATEGIES)}): "
        f"{', '.join(STRATEGIES.names())}",
    )
    parser.add_argument("--policy", type=Path, action="append", default=[],
                        help="VerticalPodAutoscaler YAML applied to the recommendations")
    parser.add_argument("--gpu-model", help=f"GPU model: {', '.join(GPU_MODELS)}")
    parser.add_argument("--warmup", default="24h",
                        help="score usage from this long after the history starts (default 24h)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table for people (default) or the JSON document")
    parser.add_argument("--per-workload", action="store_true",
                        help="table: also one row per workload and resource")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    parser.add_argument("--html", type=Path, help="also write an HTML Pareto chart here "
                        "(with --replicas: demand against ready capacity over a day)")
    replicas = parser.add_argument_group(
        "replicas", "--replicas simulates the HPA controller on each workload's summed demand: "
        "static peak sizing, a reactive HPA, and the HPA with tidal_forecast beside it")
    replicas.add_argument("--replicas", action="store_true",
                          help="backtest horizontal scaling instead of container sizes")
    add_signal_args(replicas)
    replicas.add_argument("--cold-start", default="10m",
                          help="time from a replica's creation to Ready (default 10m); the "
                          "forecast's lead is this plus one --every")
    replicas.add_argument("--replica-capacity", default="p99/10",
                          help="demand one replica serves: a number in the signal's units, or "
                          "pNN/K, the workload's NN-th percentile / K (default p99/10)")
    replicas.add_argument("--target-utilization", type=float, default=0.8,
                          help="the HPA's target: utilisation of the reactive metric, and "
                          "AverageValue = target x capacity for tidal_forecast (default 0.8)")
    replicas.add_argument("--gpus-per-replica", type=float,
                          help="GPUs each replica holds, for GPU-hours (default 1 with --signal "
                          "gpu, none with cpu)")


def run(args: argparse.Namespace) -> int:
    if args.replicas:
        return run_replicas(args)
    try:
        strategies = [STRATEGIES.create(n) for n in (args.strategy or DEFAULT_STRATEGIES)]
        gpu = gpu_model(args.gpu_model)
        warmup = parse_duration(args.warmup)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    every = every_seconds(args)
    lifetime = lifetime_seconds(args)
    vpas = load_policies(args.policy)
    samples = load_samples(args)
    if not len(samples):
        raise UsageError("the history is empty")
    first, last = float(samples.timestamp.min()), float(samples.timestamp.max())
    start = first + warmup
    progress = Progress()  # on a terminal only: a replay of a month takes minutes
    if start >= last:
        raise UsageError(
            f"--warmup {args.warmup} is not shorter than the history "
            f"({(last - first) / 3600:.1f} h): nothing is left to score; use a shorter --warmup"
        )
    results = []
    for i, strategy in enumerate(strategies, 1):
        progress.stage(f"replaying {strategy.name} ({i}/{len(strategies)})")
        table = replay(samples, strategy, every, vpas, gpu, args.oom_feedback,
                       args.controlled_resources, lifetime, args.update_mode, progress.update,
                       gpu_option=args.gpu_option)
        progress.stage(f"scoring {strategy.name}")
        results.append(score(table, samples, strategy.name, start, gpu,
                             gpu_option=args.gpu_option))
    progress.done(f"{len(strategies)} strategies over {len(samples):,} samples")
    meta = {"every_s": every, "warmup_s": warmup, "oom_feedback": args.oom_feedback,
            "actuation": args.actuation, "pod_lifetime_s": lifetime,
            "update_mode": args.update_mode, "gpu_option": args.gpu_option}
    if args.json:
        args.json.write_text(render_json(results, **meta))
    if args.html:
        args.html.write_text(render_html(results))
    if args.format == "json":
        sys.stdout.write(render_json(results, **meta))
    else:
        sys.stdout.write(render_table(results, args.per_workload))
    return 0


def run_replicas(args: argparse.Namespace) -> int:
    """``backtest --replicas``: the HPA simulated per workload, table/JSON/HTML."""
    every = every_seconds(args, "5m")
    cold = positive_duration(args, "cold-start")
    try:
        warmup = parse_duration(args.warmup)
    except ValueError as exc:
        raise UsageError(f"--warmup: {exc}") from None
    if not 0 < args.target_utilization <= 1:
        raise UsageError(f"--target-utilization must be in (0, 1], got {args.target_utilization}")
    progress = Progress()
    progress.stage("reading the history")
    signal, grid = signal_grid(load_samples(args), args.signal, every)
    try:
        capacity = replica_capacity(grid.values, args.replica_capacity)
    except ValueError as exc:
        raise UsageError(f"--replica-capacity: {exc}") from None
    sized = capacity > 0
    grid, capacity = grid.select(sized), capacity[sized]
    if not grid.keys:
        raise UsageError(f"no workload has {signal} demand at --replica-capacity "
                         f"{args.replica_capacity}")
    score_from = int(math.ceil(warmup / every))
    if score_from >= grid.values.shape[1]:
        hours = grid.values.shape[1] * every / 3600
        raise UsageError(f"--warmup {args.warmup} is not shorter than the history "
                         f"({hours:.1f} h): nothing is left to score; use a shorter --warmup")
    gpus = args.gpus_per_replica
    setup = HpaSetup(cold_start_s=cold, target_utilization=args.target_utilization,
                     gpus_per_replica=(1.0 if signal == "gpu" else 0.0) if gpus is None else gpus)
    progress.stage(f"simulating the HPA on {len(grid.keys)} workloads")
    results = backtest_replicas(grid, capacity, setup, score_from, progress.update)
    progress.done(f"{len(grid.keys)} workloads, {grid.values.shape[1]:,} steps")
    run = ReplicaRun(signal, setup, str(args.replica_capacity), grid, capacity, score_from,
                     int((~sized).sum()))
    if args.json:
        args.json.write_text(replicas_report.render_json(run, results))
    if args.html:
        args.html.write_text(replicas_report.render_html(run, results))
    if args.format == "json":
        sys.stdout.write(replicas_report.render_json(run, results))
    else:
        sys.stdout.write(replicas_report.render_table(run, results, args.per_workload))
    return 0
