"""Report build and render times on the demo history (prints figures; no assertions).

    .venv/bin/python benchmarks/report_bench.py [DAYS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from recommender.commands.common import build_model, load_policies
from recommender.input.demo import generate
from recommender.logic.gpu import gpu_model
from recommender.logic.recommend import recommend
from recommender.logic.strategies import STRATEGIES
from recommender.report.build import ReportInputs, build_report
from recommender.report.formats import FORMATS
from recommender.report.manifests import ManifestSource

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    samples = generate(days=days, seed=42)
    t0 = time.perf_counter()
    model = build_model(samples)
    strategy, gpu = STRATEGIES.create("tidal"), gpu_model("A100-80GB")
    vpas = load_policies([ROOT / "examples/demo-vpas.yaml"])
    recs = recommend(model, strategy, vpas, gpu)
    t1 = time.perf_counter()
    inventory = ManifestSource([ROOT / "examples/demo-workloads.yaml"]).load()
    report = build_report(ReportInputs(model, recs, strategy, inventory, vpas, samples, gpu,
                                       generated_at="bench"))
    t2 = time.perf_counter()
    print(f"{days} days, {len(samples):,} samples: model+recommend {t1 - t0:.3f}s, "
          f"report build {t2 - t1:.3f}s ({len(report.containers)} containers)")
    for name in FORMATS.names():
        start = time.perf_counter()
        text = FORMATS.render(name, report)
        print(f"  {name:<9} {time.perf_counter() - start:.4f}s  {len(text):>8,} bytes")


if __name__ == "__main__":
    main()
