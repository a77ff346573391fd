"""``tidal-recommender ingest FILE.csv``: add a history CSV to the embedded store."""

from __future__ import annotations

import argparse
from pathlib import Path

from recommender.input.csv_history import read_history
from recommender.input.store import DEFAULT_STORE, HistoryStore

HELP = "add a history CSV to the embedded store (idempotent)"
EXAMPLES = """examples:
  tidal-recommender ingest history.csv
  tidal-recommender ingest a.csv b.csv.gz --store /tmp/history.db
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, help="history CSV files")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE,
                        help=f"SQLite history store, created if missing (default {DEFAULT_STORE})")


def run(args: argparse.Namespace) -> int:
    batches = [(path, read_history(path)) for path in args.files]  # validate all first
    with HistoryStore(args.store) as store:
        for path, samples in batches:
            added = store.ingest(samples)
            print(f"{path}: {len(samples)} samples read, {added} new, store {args.store}")
    return 0
