"""GPU options backtested on the GenAI trace: devices per pod, GPU memory over, contention.

The Alibaba GenAI developer copy (``../shared/traces/alibaba-genai-2026``, never committed)
holds the pods of one Stable Diffusion serving system. It is replayed twice:

- ``deployment``: every pod in one workload, as the service runs (one VPA learns from all
  replicas, so a pod's GPU-memory reservation covers what its siblings have shown);
- ``per pod``: each pod its own workload, learning from its own samples only (the import's
  default, since the trace names no workload).

For each GPU model and option (whole, MIG, shared) it prints GPUs per pod (device-hours per
pod-hour; MIG as slices / 7, a share as its fraction), the share of GPU-memory samples above
what the plan reserves, and, for shared devices, the share of samples on a device busier than
one. Each set is also scored on the two halves of the pods (split by a hash of the pod name),
a proxy for pods not seen: the figures should hold on both.

    .venv/bin/python benchmarks/gpu_backtest.py [--traces DIR] [--every 1h] [--warmup 2h]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.backtest.replay import replay  # noqa: E402
from recommender.backtest.score import score  # noqa: E402
from recommender.duration import parse_duration  # noqa: E402
from recommender.history import Samples  # noqa: E402
from recommender.input.importers import read_alibaba_genai  # noqa: E402
from recommender.logic.gpu import GPU_OPTIONS, SHARED, gpu_model  # noqa: E402
from recommender.logic.strategies import STRATEGIES  # noqa: E402

MODELS = ("A100-80GB", "H200-141GB")
CONTROLLED = ("cpu", "memory", "nvidia.com/gpu")
# The target on 80 GB devices: at most 0.70 devices per pod, no sample over the
# reserved GPU memory, contention under 1% of samples.
TARGET_DEVICES, TARGET_CONTENTION = 0.70, 0.01


def as_one_workload(samples: Samples, workload: str = "Deployment/sd-serving") -> Samples:
    """Every pod of ``samples`` in one workload."""
    return Samples.from_columns(samples.timestamp, samples.namespace,
                                np.full(len(samples), workload, dtype=object), samples.pod,
                                samples.container, samples.resource, samples.value)


def half(samples: Samples, which: int) -> Samples:
    """The pods whose name hashes to ``which`` (0 or 1)."""
    pods = np.unique(samples.pod)
    keep = {p for p in pods.tolist() if zlib.crc32(str(p).encode()) % 2 == which}
    return samples.select(np.fromiter((p in keep for p in samples.pod.tolist()), bool,
                                      len(samples)))


def gpu_scores(samples: Samples, model: str, option: str, every: float, warmup: float
               ) -> tuple[float, float, float | None]:
    """(GPUs per pod, GPU memory over, contention) of ``option`` on ``model``."""
    gpu = gpu_model(model)
    start = float(samples.timestamp.min()) + warmup
    table = replay(samples, STRATEGIES.create("vpa"), every, gpu=gpu, controlled=CONTROLLED,
                   gpu_option=option)
    result = score(table, samples, "vpa", start, gpu, per_workload=False, gpu_option=option)
    s = result.overall["gpu"]
    return s.mean_target, float(s.memory_over or 0.0), s.contention


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--traces", type=Path, default=ROOT.parent / "shared" / "traces")
    parser.add_argument("--every", default="1h")
    parser.add_argument("--warmup", default="2h")
    args = parser.parse_args()
    folder = args.traces / "alibaba-genai-2026"
    if not folder.is_dir():
        print(f"{folder}: not found (the GenAI developer copy)", file=sys.stderr)
        return 2
    every, warmup = parse_duration(args.every), parse_duration(args.warmup)
    pods = read_alibaba_genai(folder).sorted_by_time()
    sets = {"deployment": as_one_workload(pods), "per pod": pods}
    print(f"GenAI: {len(np.unique(pods.pod))} pods, {len(pods):,} samples; strategy vpa, "
          f"--every {args.every}, --warmup {args.warmup}")
    header = ("import", "pods", "model", "option", "GPUs/pod", "GPU memory over", "contention",
              "target met")
    rows = []
    began = time.perf_counter()
    for name, samples in sets.items():
        for part, subset in (("all", samples), ("half A", half(samples, 0)),
                             ("half B", half(samples, 1))):
            for model in MODELS:
                for option in GPU_OPTIONS:
                    devices, over, contention = gpu_scores(subset, model, option, every,
                                                           warmup)
                    met = ""
                    if model == "A100-80GB" and option == SHARED:
                        met = "yes" if (devices <= TARGET_DEVICES and over == 0
                                        and (contention or 0) < TARGET_CONTENTION) else "no"
                    rows.append((name, part, model, option, f"{devices:.3f}",
                                 f"{100 * over:.2f}%",
                                 "-" if contention is None else f"{100 * contention:.2f}%", met))
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"({time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
