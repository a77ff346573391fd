"""``tidal-recommender backtest``: replay strategies and score them against later usage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recommender.backtest.replay import replay
from recommender.backtest.report import render_html, render_json, render_table
from recommender.backtest.score import score
from recommender.commands.common import UsageError, add_source_args, load_policies, load_samples
from recommender.commands.replay import add_replay_args, every_seconds, lifetime_seconds
from recommender.duration import parse_duration
from recommender.logic.gpu import GPU_MODELS, gpu_model
from recommender.logic.strategies import STRATEGIES
from recommender.report.progress import Progress

HELP = "score strategies on a history: slack, under-provisioned samples and hours"
EXAMPLES = """examples:
  tidal-recommender backtest --history bitbrains.csv.gz --strategy vpa --strategy tidal
  tidal-recommender backtest --history h.csv --actuation creation --pod-lifetime 168h --html b.html
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
    parser.add_argument("--html", type=Path, help="also write an HTML Pareto chart here")


def run(args: argparse.Namespace) -> int:
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
                       args.controlled_resources, lifetime, args.update_mode, progress.update)
        progress.stage(f"scoring {strategy.name}")
        results.append(score(table, samples, strategy.name, start, gpu))
    progress.done(f"{len(strategies)} strategies over {len(samples):,} samples")
    meta = {"every_s": every, "warmup_s": warmup, "oom_feedback": args.oom_feedback,
            "actuation": args.actuation, "pod_lifetime_s": lifetime,
            "update_mode": args.update_mode}
    if args.json:
        args.json.write_text(render_json(results, **meta))
    if args.html:
        args.html.write_text(render_html(results))
    if args.format == "json":
        sys.stdout.write(render_json(results, **meta))
    else:
        sys.stdout.write(render_table(results, args.per_workload))
    return 0
