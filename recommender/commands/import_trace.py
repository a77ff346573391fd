"""``tidal-recommender import``: public traces (Bitbrains, Alibaba) into a history CSV."""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np

from recommender.commands.common import UsageError
from recommender.history import Samples
from recommender.input.csv_history import write_history
from recommender.input.importers import FORMATS, GENAI_MEMORY_LIMIT_BYTES, read_trace

HELP = "convert a Bitbrains or Alibaba trace into a history CSV"
EXAMPLES = """examples:
  tidal-recommender import --format bitbrains bitbrains-rnd/2013-8.csv.gz --output bb.csv.gz
  tidal-recommender import --format alibaba-genai alibaba-genai-2026 \\
      --workload Deployment/sd-serving --output genai.csv.gz
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS, help="trace format")
    parser.add_argument("path", type=Path,
                        help="trace file or folder (alibaba-genai: the folder of pod files)")
    parser.add_argument("--output", type=Path,
                        help="history CSV to write, .gz compresses (default stdout)")
    parser.add_argument(
        "--workload", metavar="KIND/NAME",
        help="one workload for every pod of the trace (the GenAI pods serve one system: "
        "backtest --replicas and forecast then see their summed demand); default: each "
        "VM or pod is its own workload",
    )
    parser.add_argument(
        "--genai-memory-limit", type=float, default=GENAI_MEMORY_LIMIT_BYTES,
        help="alibaba-genai: bytes that memory utilisation 1.0 stands for "
        f"(default {GENAI_MEMORY_LIMIT_BYTES}, 16 GiB)",
    )


def run(args: argparse.Namespace) -> int:
    if args.format == "alibaba-genai":
        from recommender.input.importers import read_alibaba_genai

        samples = read_alibaba_genai(args.path, args.genai_memory_limit)
    else:
        samples = read_trace(args.format, args.path)
    if args.workload is not None:
        samples = _one_workload(samples, args.workload)
    if args.output is None:
        write_history(samples, sys.stdout)
    elif args.output.suffix == ".gz":
        with gzip.open(args.output, "wb") as raw, io.TextIOWrapper(raw, "utf-8") as out:
            write_history(samples, out)
    else:
        with open(args.output, "w", newline="") as out:
            write_history(samples, out)
    print(f"{len(samples)} samples written", file=sys.stderr)
    return 0


def _one_workload(samples: Samples, workload: str) -> Samples:
    kind, _, name = workload.partition("/")
    if not kind or not name or "/" in name:
        raise UsageError(f"--workload {workload!r}: expected KIND/NAME, e.g. Deployment/serving")
    return Samples(samples.timestamp, samples.namespace,
                   np.full(len(samples), workload, dtype=object), samples.pod,
                   samples.container, samples.resource, samples.value)
