"""``tidal-recommender demo --output FILE.csv``: write the seeded demo history."""

from __future__ import annotations

import argparse
from pathlib import Path

from recommender.input.csv_history import write_history
from recommender.input.demo import generate

HELP = "write a realistic demo history CSV"
EXAMPLES = """examples:
  tidal-recommender demo --output history.csv --days 8 --seed 42
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, required=True,
                        help="history CSV to write (the input contract of ingest/recommend)")
    parser.add_argument("--days", type=int, default=8,
                        help="days of one-minute samples, ending 2026-11-01 (default 8)")
    parser.add_argument("--seed", type=int, default=42,
                        help="random seed: the same seed, the same history (default 42)")


def run(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise ValueError("--days must be at least 1")
    samples = generate(days=args.days, seed=args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="") as out:
        write_history(samples, out)
    print(f"wrote {len(samples)} samples over {args.days} days to {args.output}")
    return 0
