"""CPU and memory on Bitbrains as actuated: in place every hour, or frozen at pod creation.

For each strategy: the hourly replay scored as the updater applies it (``in-place``), and as
pods recreated every 24 h and 168 h (each workload at a phase of its own) carry the target of
their creation (``creation``; OOM kills follow the carried memory target). All VMs and the two
halves of ``benchmarks/quality.py``. Targets (issue 12): in place, CPU slack <= 0.35 with
under-provisioned hours <= vpa's; at creation, under-provisioned hours and slack <= vpa's at
both lifetimes.

    .venv/bin/python benchmarks/actuation.py [--traces DIR] [--strategy S ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quality import DAY_S, DEFAULT_TRACES, bitbrains_half  # noqa: E402
from recommender.backtest.replay import HOUR_S, replay  # noqa: E402
from recommender.backtest.score import score  # noqa: E402
from recommender.input.importers import read_bitbrains  # noqa: E402
from recommender.logic.strategies import STRATEGIES  # noqa: E402

ACTUATIONS = (("in place", None), ("creation, 24 h", DAY_S), ("creation, 168 h", 7 * DAY_S))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--strategy", action="append", default=[])
    args = parser.parse_args()
    path = args.traces / "bitbrains-rnd" / "2013-8.csv.gz"
    if not path.exists():
        print(f"no Bitbrains trace at {path}: nothing to measure", file=sys.stderr)
        return 1
    samples = read_bitbrains(path)
    start = float(samples.timestamp.min()) + DAY_S
    halves = {"all": samples, "tuned half": bitbrains_half(samples, True),
              "held-out half": bitbrains_half(samples, False)}  # fmt: skip
    print(f"Bitbrains rnd: {len(samples):,} samples; hourly refresh, scored from 24 h on")
    print(f"{'strategy':9} {'actuation':16} {'part':14} {'cpu slack':>9} {'cpu under-h':>11} "
          f"{'mem slack':>9} {'mem OOM-h':>9}")  # fmt: skip
    for name in args.strategy or ["vpa", "tidal"]:
        for label, lifetime in ACTUATIONS:
            t0 = time.perf_counter()
            table = replay(samples, STRATEGIES.create(name), HOUR_S, lifetime_s=lifetime,
                           controlled=("cpu", "memory"))  # fmt: skip
            seconds = time.perf_counter() - t0
            for part, subset in halves.items():
                result = score(table, subset, name, start, per_workload=False).overall
                cpu, mem = result["cpu"], result["memory"]
                print(f"{name:9} {label:16} {part:14} {cpu.slack:9.3f} {cpu.under_hours:11.2%} "
                      f"{mem.slack:9.3f} {mem.under_hours:9.2%}", flush=True)  # fmt: skip
            print(f"{'':9} ({label}: replay {seconds:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
