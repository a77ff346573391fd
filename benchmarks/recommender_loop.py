"""One recommender loop over 10k VPAs / 30k containers, the API mocked at the HTTP level.

A child process serves an in-memory apiserver on 127.0.0.1 (tests/cluster/fakeapi.py):
10k Deployments, their ReplicaSets, one pod each with 3 containers, 10k VPAs and the
metrics API's PodMetrics, as paged JSON lists; it accepts status patches and checkpoint
writes. The loop runs in this process with the official client. Reported: the first loop
(every status written), a steady loop (nothing changed: no writes), peak RSS.
Targets: a loop under 10 s, peak memory under 500 MiB.

    .venv/bin/python benchmarks/recommender_loop.py [--vpas 10000] [--containers 3]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.cluster.api import KubeApi
from recommender.cluster.loop import Recommender
from recommender.cluster.settings import RecommenderSettings
from recommender.history import CPU, MEMORY, Samples
from recommender.logic.strategies import DEFAULT_STRATEGY, STRATEGIES
from recommender.model.state import UsageModel
from tests.cluster.fakeapi import FakeApiServer, Store, client_for
from tests.cluster.objects import deployment_objects, pod_metrics, vpa_object

CONTAINERS = ("app", "sidecar", "proxy")
HOUR = 3600.0
STEP = 300.0


def _names(i: int) -> tuple[str, str]:
    return f"ns-{i % 100:03d}", f"app-{i:05d}"


def build_store(vpas: int, containers: tuple[str, ...]) -> Store:
    store = Store()
    usage = {c: ("120m", "200Mi") for c in containers}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for i in range(vpas):
        ns, name = _names(i)
        deployment, rs, pods = deployment_objects(ns, name, 1, containers)
        store.add("/apis/apps/v1", "deployments", [deployment])
        store.add("/apis/apps/v1", "replicasets", [rs])
        store.add("/api/v1", "pods", pods)
        store.add("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers",
                  [vpa_object(ns, name, name)])
        store.add("/apis/metrics.k8s.io/v1beta1", "pods",
                  [pod_metrics(ns, p["metadata"]["name"], usage) | {"timestamp": stamp}
                   for p in pods])
    return store


def serve(vpas: int, containers: tuple[str, ...], ready, stop) -> None:  # type: ignore[no-untyped-def]
    store = build_store(vpas, containers)
    gc.freeze()  # the mock's own garbage collection is not what is measured
    with FakeApiServer(store) as server:
        ready.send(server.url)
        stop.wait()


def preload(model: UsageModel, vpas: int, containers: tuple[str, ...], hours: int,
            end: float) -> int:
    """``hours`` of CPU and memory samples every 5 minutes per container, ingested through the
    engine's batch path a few hours at a time. Returns the number of samples."""
    rng = np.random.default_rng(1)
    keys = [(*_names(i), c) for i in range(vpas) for c in containers]
    first = Samples.from_rows(
        (end - hours * HOUR, ns, f"Deployment/{name}", f"{name}-5f7d8c9b4-00000", c, CPU, 0.1)
        for ns, name, c in keys
    )
    slots = model.slots_of(first)
    model.ingest(first)
    steps = np.arange(end - hours * HOUR + STEP, end, STEP)
    total = len(first)
    for chunk in np.array_split(steps, max(len(steps) // 48, 1)):
        times = np.repeat(chunk, len(slots))
        tiled = np.tile(slots, len(chunk))
        model.ingest_arrays(CPU, tiled, times, rng.gamma(2.0, 0.05, len(times)))
        model.ingest_arrays(MEMORY, tiled, times, rng.normal(200, 20, len(times)) * 2**20)
        total += 2 * len(times)
    return total


def peak_rss() -> float:
    """VmHWM of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> float:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); returns the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vpas", type=int, default=10_000)
    parser.add_argument("--containers", type=int, default=3)
    parser.add_argument("--history-hours", type=int, default=48)
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY, help=", ".join(STRATEGIES.names()))
    args = parser.parse_args()
    containers = CONTAINERS[: args.containers] + tuple(
        f"c{i}" for i in range(max(args.containers - len(CONTAINERS), 0))
    )
    ctx = multiprocessing.get_context("fork")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    started = time.monotonic()
    child = ctx.Process(target=serve, args=(args.vpas, containers, ready_send, stop))
    child.start()
    url = ready_recv.recv()
    print(f"strategy {args.strategy}; fake apiserver with {args.vpas} VPAs / "
          f"{args.vpas * len(containers)} containers ready in "
          f"{time.monotonic() - started:.1f}s at {url}")
    try:
        settings = RecommenderSettings(qps=0, workers=10, strategy=args.strategy)
        client = client_for(url)
        rec = Recommender(settings, KubeApi(client, qps=0))
        t = time.monotonic()
        count = preload(rec.model, args.vpas, containers, args.history_hours, time.time())
        print(f"pre-loaded {count / 1e6:.1f} M samples ({args.history_hours} h every 5 min) for "
              f"{len(rec.model)} containers in {time.monotonic() - t:.1f}s")
        before = reset_peak_rss()
        for label in ("first loop (all statuses written)", "second loop (one more metrics poll)"):
            cpu = time.process_time()
            report = rec.run_once(checkpoints=False)
            cpu = time.process_time() - cpu
            phases = ", ".join(f"{k} {v:.2f}s" for k, v in report.phases.items())
            print(f"{label}: {report.seconds:.2f}s wall, {cpu:.2f}s CPU in the recommender "
                  f"[{phases}]")
            print(f"  VPAs served {report.served}, pods {report.pods}, samples "
                  f"{report.samples}, status writes {report.status_writes}, unchanged "
                  f"{report.unchanged}, errors {report.errors}")
            t, cpu = time.monotonic(), time.process_time()
            written = rec.write_checkpoints()
            print(f"  then checkpoints (between loops, {settings.checkpoint_deadline_s:.0f}s "
                  f"budget): {written} written in {time.monotonic() - t:.2f}s wall, "
                  f"{time.process_time() - cpu:.2f}s CPU")
        print(f"peak memory (RSS) of the recommender process during the loops: "
              f"{peak_rss():.0f} MiB (model and history loaded before: {before:.0f} MiB; "
              f"lifetime peak incl. the synthetic pre-load: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
        client.close()
    finally:
        stop.set()
        child.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
