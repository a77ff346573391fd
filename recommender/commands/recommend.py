"""``tidal-recommender recommend``: recommendations from a history CSV or the store."""

from __future__ import annotations

import argparse
import sys

from recommender.commands.common import (
    add_engine_args,
    add_source_args,
    build_model,
    engine_options,
    load_policies,
    load_samples,
    minutes_per_sample,
    workload_gpu_models,
)
from recommender.logic.profile import hourly_profiles
from recommender.logic.recommend import recommend
from recommender.output.recommendations import (
    FORMATS,
    document,
    render_json,
    render_table,
    render_yaml,
)

HELP = "compute recommendations from usage history"
EXAMPLES = """examples:
  tidal-recommender recommend --store .tidal/history.db --policy examples/demo-vpas.yaml
  tidal-recommender recommend --history history.csv --format json --horizon next-hours
"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_source_args(parser)
    add_engine_args(parser)
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table for people (default); json or yaml: the output contract")


def run(args: argparse.Namespace) -> int:
    strategy, gpu, rounding = engine_options(args)
    vpas = load_policies(args.policy)
    samples = load_samples(args)
    model = build_model(samples, strategy, minutes_per_sample(args), vpas)
    recs = recommend(model, strategy, vpas, gpu, horizon=args.horizon,
                     gpu_of=workload_gpu_models(args))
    profiles = hourly_profiles(model, strategy, recs, vpas)
    if args.format == "table":
        sys.stdout.write(render_table(recs, profiles))
        return 0
    doc = document(recs, rounding, profiles=profiles, strategy=strategy.name,
                   horizon=args.horizon)
    sys.stdout.write(render_json(doc) if args.format == "json" else render_yaml(doc))
    return 0
