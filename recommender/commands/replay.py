"""``tidal-recommender replay``: what the recommender would have published, step by step."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import IO

from recommender.backtest.replay import REPLAY_COLUMNS, ReplayTable, replay
from recommender.commands.common import (
    UsageError,
    add_engine_args,
    add_source_args,
    engine_options,
    load_policies,
    load_samples,
)
from recommender.duration import parse_duration
from recommender.logic.gpu import GPU_OPTIONS, MIG
from recommender.quantity import MEMORY
from recommender.vpa import UPDATE_MODES

HELP = "replay a history in time order, writing each step's recommendations as CSV"
EXAMPLES = """examples:
  tidal-recommender replay --history history.csv --every 1h --update-mode Initial --output r.csv
"""


def add_replay_args(
    parser: argparse.ArgumentParser, default_controlled: tuple[str, ...] | None = None
) -> None:
    parser.add_argument(
        "--every", help="recommendation refresh interval (default 1h; with backtest "
        "--replicas the forecast's step, default 5m)"
    )
    parser.add_argument(
        "--no-oom-feedback", dest="oom_feedback", action="store_false",
        help="do not record an OOM kill when memory use passes the published target",
    )
    parser.add_argument(
        "--actuation", choices=("in-place", "creation"), default="in-place",
        help="how targets reach pods: in-place (resized at every step, the default) or "
        "creation (pods recreated every --pod-lifetime keep the target of their creation)",
    )
    parser.add_argument(
        "--pod-lifetime", default="24h",
        help="with --actuation creation: how long each workload's pods live (default 24h)",
    )
    parser.add_argument(
        "--update-mode", choices=UPDATE_MODES,
        help="updateMode of the VPA assumed for workloads no --policy VPA targets: in-place "
        "modes publish next-hours targets, the others held ones (default InPlaceOrRecreate; "
        "Initial with --actuation creation)",
    )
    parser.add_argument(
        "--gpu-option", choices=GPU_OPTIONS, default=MIG,
        help="how GPU recommendations are held: whole GPUs, the smallest MIG profile that fits "
        "(the default; whole GPUs without MIG), or a share of one device (time-slicing or MPS, "
        "sized by reserved GPU memory and busy share; needs --gpu-model)",
    )
    parser.add_argument(
        "--controlled-resources", type=_resource_list, default=default_controlled,
        help="comma-separated resources recommended for workloads no --policy VPA targets "
        f"(default {','.join(default_controlled) if default_controlled else 'cpu,memory'})",
    )


def _resource_list(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def every_seconds(args: argparse.Namespace, default: str = "1h") -> float:
    try:
        every = parse_duration(args.every or default)
    except ValueError as exc:
        raise UsageError(f"--every: {exc}") from None
    if every <= 0:
        raise UsageError("--every must be positive")
    return every


def lifetime_seconds(args: argparse.Namespace) -> float | None:
    """The pod lifetime with ``--actuation creation``; None in place."""
    if args.actuation != "creation":
        return None
    try:
        lifetime = parse_duration(args.pod_lifetime)
    except ValueError as exc:
        raise UsageError(f"--pod-lifetime: {exc}") from None
    if lifetime <= 0:
        raise UsageError("--pod-lifetime must be positive")
    return lifetime


def configure(parser: argparse.ArgumentParser) -> None:
    add_source_args(parser)
    add_engine_args(parser)
    add_replay_args(parser)
    parser.add_argument("--output", type=Path, help="CSV to write (default stdout)")


def run(args: argparse.Namespace) -> int:
    strategy, gpu, _ = engine_options(args)
    every = every_seconds(args)
    vpas = load_policies(args.policy)
    table = replay(load_samples(args), strategy, every, vpas, gpu, args.oom_feedback,
                   args.controlled_resources, lifetime_seconds(args), args.update_mode,
                   gpu_option=args.gpu_option)
    if args.output is None:
        write_replay(table, sys.stdout)
    else:
        with open(args.output, "w", newline="") as out:
            write_replay(table, out)
    return 0


def write_replay(table: ReplayTable, out: IO[str]) -> None:
    """The replay CSV: cores, bytes and devices as plain numbers (bytes whole, never in
    exponent form: ``262144000``, not ``2.62144e+08``)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPLAY_COLUMNS)
    for ts, ns, workload, container, resource, target, lower, upper in table.rows():
        form = "{:.0f}" if resource == MEMORY else "{:.6g}"
        writer.writerow((f"{ts:.0f}", ns, workload, container, resource,
                         *(form.format(v) for v in (target, lower, upper))))
