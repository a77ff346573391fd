"""One updater loop over 10k pods / 3k VPAs, the API mocked at the HTTP level.

A child process serves an in-memory apiserver on 127.0.0.1 (tests/cluster/fakeapi.py): 3k
Deployments' ReplicaSets with 10k running pods in all, 3k VPAs (a third each
InPlaceOrRecreate, Recreate and Initial) whose targets are outside the pods' requests, as
paged JSON lists; it accepts pods/resize patches, evictions and Events. The loop runs in this
process with the official client and a rate limit. Reported: the decision time (lists parsed
to decisions, no API calls), the whole loop, peak RSS, and the actions taken against what the
rate limit allows. Targets: decisions < 2 s, peak memory < 300 MiB, rate limit honoured.

    .venv/bin/python benchmarks/updater_loop.py [--vpas 3000] [--pods 10000] [--rate 5 --burst 20]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recommender_loop import peak_rss, reset_peak_rss
from recommender.cluster.api import KubeApi
from tests.cluster.fakeapi import FakeApiServer, Store, client_for
from updater.loop import Updater
from updater.settings import UpdaterSettings

MODES = ("InPlaceOrRecreate", "Recreate", "Initial")
STAMP = "2026-01-01T00:00:00Z"


def _objects(i: int, pods: int) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    ns, name = f"ns-{i % 100:03d}", f"app-{i:05d}"
    rs = f"{name}-5f7d8c9b4"
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}",
             "controller": True}  # fmt: skip
    containers = [{"name": c, "image": "registry.invalid/app:1", "resources": {
        "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}
        for c in ("app", "sidecar")]  # fmt: skip
    pod_list = [{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{rs}-{k:05d}", "namespace": ns, "uid": f"uid-{rs}-{k}",
                     "labels": {"app": name, "pod-template-hash": "5f7d8c9b4"},
                     "ownerReferences": [owner]},
        "spec": {"containers": containers, "nodeName": "node-1"},
        "status": {"phase": "Running", "qosClass": "Burstable", "startTime": STAMP,
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": STAMP}],
                   "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": 0,
                                          "state": {"running": {"startedAt": STAMP}}}
                                         for c in containers]},
    } for k in range(pods)]  # fmt: skip
    replicaset = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs, "namespace": ns, "uid": f"uid-{rs}", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": f"uid-{name}",
             "controller": True}]},
        "spec": {"replicas": pods},
    }  # fmt: skip
    target = {"cpu": "300m", "memory": "200Mi"}
    recs = [{"containerName": c, "target": target, "lowerBound": target, "upperBound": target,
             "uncappedTarget": target} for c in ("app", "sidecar")]  # fmt: skip
    vpa = {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-vpa-{name}",
                     "creationTimestamp": STAMP},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "updatePolicy": {"updateMode": MODES[i % len(MODES)]}},
        "status": {"recommendation": {"containerRecommendations": recs}},
    }  # fmt: skip
    return vpa, replicaset, pod_list


def build_store(vpas: int, pods: int) -> Store:
    store = Store()
    for i in range(vpas):
        per = pods // vpas + (1 if i < pods % vpas else 0)
        vpa, rs, pod_list = _objects(i, per)
        store.add("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers", [vpa])
        store.add("/apis/apps/v1", "replicasets", [rs])
        store.add("/api/v1", "pods", pod_list)
    return store


def serve(vpas: int, pods: int, ready: Any, stop: Any) -> None:
    store = build_store(vpas, pods)
    gc.freeze()
    with FakeApiServer(store) as server:
        ready.send(server.url)
        stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vpas", type=int, default=3000)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5.0, help="actions per second")
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("fork")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    child = ctx.Process(target=serve, args=(args.vpas, args.pods, ready_send, stop))
    child.start()
    url = ready_recv.recv()
    print(f"fake apiserver with {args.vpas} VPAs / {args.pods} pods at {url}")
    try:
        baseline = reset_peak_rss()
        settings = UpdaterSettings(rate_limit=args.rate, rate_burst=args.burst, qps=0)
        updater = Updater(KubeApi(client_for(url), qps=0), settings)
        started = time.monotonic()
        result = updater.run_once()
        loop = time.monotonic() - started
        actions = len(result.resized) + len(result.evicted)
        allowed = args.burst + args.rate * loop
        wanted = actions + result.skipped.get("rate_limit", 0)
        print(f"decisions: {len(result.decisions)} pods of {result.vpas} VPAs in "
              f"{result.decide_seconds:.2f}s (target < 2 s)")
        print(f"whole loop (lists, decisions, actions): {loop:.2f}s")
        print(f"peak RSS: {peak_rss():.0f} MiB ({peak_rss() - baseline:.0f} MiB above the "
              f"{baseline:.0f} MiB before the loop; target < 300 MiB)")
        print(f"actions: {len(result.resized)} resized, {len(result.evicted)} evicted of "
              f"{wanted} wanted; the rate limit allows {allowed:.0f} "
              f"({'honoured' if actions <= allowed else 'EXCEEDED'})")
        print("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())))
        return 0 if actions <= allowed else 1
    finally:
        stop.set()
        child.join(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
