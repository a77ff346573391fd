"""``--strategy vpa`` against upstream VPA's own recommender code, fed the same histories.

``tests/upstream_recommender`` is a small Go program that imports upstream's
``pkg/recommender/model`` and ``logic`` (the version pinned in its ``go.mod``), feeds every
sample and OOM to a real ``ClusterState`` and runs the default ``PodResourceRecommender``; it is
built once into ``~/.cache/tidal/bin/`` (``tests.e2e.gobuild.build_tool``). The same histories go
through ``tidal-recommender recommend --history FILE --strategy vpa --format json``.

Tolerance: none. Upstream's amounts are whole millicores and bytes, and so are Tidal's (it
truncates after each step as upstream does), so every target and bound must be equal: a
difference of one millicore or one byte fails.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
import yaml

from recommender.quantity import parse_quantity
from tests.e2e.gobuild import ToolchainMissing, build_tool

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).resolve().parents[1] / "upstream_recommender"
FIELDS = ("target", "lowerBound", "upperBound", "uncappedTarget")
T0 = 1_767_225_600 + 5 * 3600 + 17 * 60 + 13  # 2026-01-01 05:17:13 UTC: not on a day boundary
MIN, HOUR, DAY = 60, 3600, 86400
MI = 2**20


@dataclass
class Container:
    """One pod container's history, in the harness's input format."""

    namespace: str
    workload: str
    pod: str
    container: str
    cpu: list[tuple[int, float]] = field(default_factory=list)
    memory: list[tuple[int, float]] = field(default_factory=list)
    ooms: list[tuple[int, float]] = field(default_factory=list)
    policy: dict[str, Any] | None = None  # its workload VPA's policy for it (AEP-8026 fields)

    def as_json(self) -> dict[str, Any]:
        out = {"namespace": self.namespace, "workload": self.workload, "pod": self.pod,
               "container": self.container, "cpu": self.cpu, "memory": self.memory,
               "ooms": self.ooms}
        return out if self.policy is None else {**out, "policy": self.policy}

    def rows(self) -> Iterator[tuple[int, str, str, str, str, str, str]]:
        for resource, samples in (("cpu", self.cpu), ("memory", self.memory), ("oom", self.ooms)):
            for ts, value in samples:
                yield (ts, self.namespace, self.workload, self.pod, self.container, resource,
                       repr(value))


def series(rng: np.random.Generator, start: int, end: int, step: int, base: float,
           swing: float, noise: float, decimals: int) -> list[tuple[int, float]]:
    """A diurnal series with log-normal noise from ``start`` to ``end`` (exclusive)."""
    times = np.arange(start, end, step)
    phase = 2 * math.pi * (times - T0) / DAY
    values = (base + swing * np.sin(phase)) * rng.lognormal(0.0, noise, len(times))
    return [(int(t), round(float(v), decimals)) for t, v in zip(times, values, strict=True)]


def cpu(rng: np.random.Generator, start: int, end: int, base: float, step: int = MIN,
        swing: float | None = None) -> list[tuple[int, float]]:
    """CPU cores, with sub-millicore digits (upstream truncates them)."""
    return series(rng, start, end, step, base, base / 2 if swing is None else swing, 0.3, 6)


def memory(rng: np.random.Generator, start: int, end: int, base: float, step: int = MIN
           ) -> list[tuple[int, float]]:
    return series(rng, start, end, step, base, base / 10, 0.05, 0)


def long_history(rng: np.random.Generator) -> list[Container]:
    """Eight days of one-minute samples: full confidence, decay across windows."""
    end = T0 + 8 * DAY
    return [Container("long", "Deployment/api", "api-1", "app",
                      cpu(rng, T0, end, 0.35), memory(rng, T0, end, 600 * MI))]


def short_history(rng: np.random.Generator) -> list[Container]:
    """Three hours at 15 s: span-limited confidence, wide bounds."""
    end = T0 + 3 * HOUR
    return [Container("short", "Deployment/new", "new-1", "app",
                      cpu(rng, T0, end, 1.2, step=15), memory(rng, T0, end, 2048 * MI, step=15))]


def oom_history(rng: np.random.Generator) -> list[Container]:
    """OOMs inside a window, one that opens a new window after memory samples stopped, and
    one in that new window after lower memory samples."""
    app = Container("ooms", "StatefulSet/db", "db-0", "db",
                    cpu(rng, T0, T0 + 60 * HOUR, 0.5), memory(rng, T0, T0 + 30 * HOUR, 900 * MI))
    app.memory += memory(rng, T0 + 55 * HOUR, T0 + 60 * HOUR, 700 * MI)
    app.ooms = [
        (T0 + 10 * HOUR + 30, 512.0 * MI),  # below the window's peak: bumps from the peak
        (T0 + 26 * HOUR + 30, 2048.0 * MI),  # above it: bumps from the request
        (T0 + 50 * HOUR + 30, 256.0 * MI),  # opens a new window: the previous window's peak
        (T0 + 58 * HOUR + 30, 768.0 * MI),  # in that window, lower usage since
    ]
    worker = Container("ooms", "Deployment/worker", "worker-1", "worker",
                       cpu(rng, T0, T0 + 20 * HOUR, 0.1), memory(rng, T0, T0 + 20 * HOUR, 300 * MI))
    worker.ooms = [(T0 + 30 * HOUR + 30, 200.0 * MI)]  # after the last sample: a new window
    return [app, worker]


def memory_only_history(rng: np.random.Generator) -> list[Container]:
    """A container with memory samples and no CPU sample: confidence 0."""
    end = T0 + 2 * DAY
    return [
        Container("memonly", "Deployment/web", "web-1", "web",
                  cpu(rng, T0, end, 0.2), memory(rng, T0, end, 400 * MI)),
        Container("memonly", "Deployment/web", "web-1", "shipper",
                  memory=memory(rng, T0, end, 90 * MI, step=5 * MIN)),
    ]


def duplicate_history(rng: np.random.Generator) -> list[Container]:
    """Samples repeated at the same timestamp (different values) and some out of order."""
    end = T0 + 30 * HOUR
    app = Container("dups", "Deployment/dup", "dup-1", "app",
                    cpu(rng, T0, end, 0.3), memory(rng, T0, end, 500 * MI))
    dup_cpu = [(ts, round(v * 3.0, 6)) for ts, v in app.cpu[::7]]
    dup_memory = [(ts, v * 1.5) for ts, v in app.memory[::11]]
    stale = [(ts, round(v * 2.0, 6)) for ts, v in app.cpu[100:130]]
    app.cpu = sorted(app.cpu + dup_cpu, key=lambda s: s[0]) + stale  # stale: out of order
    app.memory = sorted(app.memory + dup_memory, key=lambda s: s[0])
    return [app]


def sidecar_history(rng: np.random.Generator) -> list[Container]:
    """Three containers per pod, two of them tiny: the pod floors split three ways, CPU below
    one millicore."""
    end = T0 + 26 * HOUR
    return [
        Container("sidecars", "Deployment/mesh", "mesh-1", "app",
                  cpu(rng, T0, end, 0.08), memory(rng, T0, end, 180 * MI)),
        Container("sidecars", "Deployment/mesh", "mesh-1", "proxy",
                  cpu(rng, T0, end, 0.004), memory(rng, T0, end, 24 * MI)),
        Container("sidecars", "Deployment/mesh", "mesh-1", "reloader",
                  cpu(rng, T0, end, 0.0008, swing=0.0004), memory(rng, T0, end, 8 * MI)),
    ]


def replica_history(rng: np.random.Generator) -> list[Container]:
    """Pods of one workload share histograms; one pod replaced halfway; a three-day gap.

    Pods start at different seconds, as real pods do: pods started at the same second have
    memory windows ending together, and with those equal weights a percentile can fall on an
    exact tie that upstream resolves by the rounding of its running sums (see the docs)."""
    B, C = T0 + 7 * MIN + 11, T0 + 2 * DAY + 3 * HOUR + 5
    return [
        Container("replicas", "Deployment/shop", "shop-a", "shop",
                  cpu(rng, T0, T0 + 4 * DAY, 0.6), memory(rng, T0, T0 + 4 * DAY, 1024 * MI)),
        Container("replicas", "Deployment/shop", "shop-b", "shop",
                  cpu(rng, B, B + 2 * DAY, 0.6), memory(rng, B, B + 2 * DAY, 1100 * MI)),
        Container("replicas", "Deployment/shop", "shop-c", "shop",
                  cpu(rng, C, T0 + 4 * DAY, 0.7), memory(rng, C, T0 + 4 * DAY, 1000 * MI)),
        Container("replicas", "CronJob/batch", "batch-1", "job",
                  cpu(rng, T0, T0 + 6 * HOUR, 2.0) + cpu(rng, T0 + 3 * DAY, T0 + 3 * DAY + 6 * HOUR,
                                                         2.5),
                  memory(rng, T0, T0 + 6 * HOUR, 3000 * MI)
                  + memory(rng, T0 + 3 * DAY, T0 + 3 * DAY + 6 * HOUR, 3500 * MI)),
    ]


def per_vpa_history(rng: np.random.Generator) -> list[Container]:
    """AEP-8026's per-VPA fields: OOM bumps by ratio and by minimum, a "*" policy that an
    exact policy shields its container from, and one-hour and six-hour memory windows (more
    peaks, the lower ones of the day among them)."""
    end = T0 + 30 * HOUR
    bump = Container("pervpa", "Deployment/bump", "bump-1", "app",
                     cpu(rng, T0, end, 0.3), memory(rng, T0, end, 800 * MI),
                     [(T0 + 5 * HOUR + 30, 700.0 * MI), (T0 + 26 * HOUR + 30, 1500.0 * MI)],
                     {"oomBumpUpRatio": "1.5", "oomMinBumpUp": "10Mi"})
    small = Container("pervpa", "Deployment/bump", "bump-1", "tiny",
                      cpu(rng, T0, end, 0.01), memory(rng, T0, end, 20 * MI),
                      [(T0 + 6 * HOUR + 30, 20.0 * MI)],
                      {"containerName": "*", "oomBumpUpRatio": "1", "oomMinBumpUp": "5Mi"})
    shielded = Container("pervpa", "Deployment/bump", "bump-1", "proxy",
                         cpu(rng, T0, end, 0.02), memory(rng, T0, end, 40 * MI),
                         [(T0 + 7 * HOUR + 30, 40.0 * MI)], {})  # its own policy: defaults
    hourly = Container("pervpa", "Deployment/hourly", "hourly-1", "app",
                       cpu(rng, T0, end, 0.5), memory(rng, T0, end, 600 * MI),
                       [(T0 + 20 * HOUR + 30, 900.0 * MI)],
                       {"memoryAggregationIntervalSeconds": 3600,
                        "memoryAggregationIntervalCount": 48})
    six = Container("pervpa", "StatefulSet/six", "six-0", "db",  # a wide daily swing
                    cpu(rng, T0, end, 0.2), series(rng, T0, end, 5 * MIN, 300 * MI, 200 * MI,
                                                   0.05, 0),
                    [(T0 + 23 * HOUR + 30, 450.0 * MI)],
                    {"memoryAggregationIntervalSeconds": 6 * 3600})
    return [bump, small, shielded, hourly, six]


CASES: dict[str, Callable[[np.random.Generator], list[Container]]] = {
    "long": long_history,
    "short": short_history,
    "ooms": oom_history,
    "memonly": memory_only_history,
    "dups": duplicate_history,
    "sidecars": sidecar_history,
    "replicas": replica_history,
    "pervpa": per_vpa_history,
}

Amounts = dict[str, dict[str, int]]  # field -> {"cpu": millicores, "memory": bytes}


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI (which has Go), skip elsewhere."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"upstream recommender unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"upstream recommender unavailable: {reason}")


@pytest.fixture(scope="module")
def histories() -> list[Container]:
    rng = np.random.default_rng(14)
    return [c for make in CASES.values() for c in make(rng)]


@pytest.fixture(scope="module")
def upstream(histories: list[Container]) -> dict[tuple[str, str, str], Amounts]:
    try:
        binary = build_tool(HARNESS, "upstream-recommender")
    except (ToolchainMissing, subprocess.CalledProcessError) as exc:
        _unavailable(str(exc))
    proc = subprocess.run([str(binary)], input=json.dumps([c.as_json() for c in histories]),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return {(e["namespace"], e["workload"], e["container"]): {f: e[f] for f in FIELDS}
            for e in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def tidal(histories: list[Container], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[tuple[str, str, str], Amounts]:
    path = tmp_path_factory.mktemp("upstream-vpa") / "history.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", "namespace", "workload", "pod", "container", "resource",
                         "value"))
        for container in histories:
            writer.writerows(container.rows())
    policy = path.with_name("vpas.yaml")
    policy.write_text(yaml.safe_dump_all(_vpas(histories)))
    proc = subprocess.run(  # the CLI as users run it, in a fresh interpreter
        [sys.executable, "-m", "recommender", "recommend", "--history", str(path),
         "--strategy", "vpa", "--format", "json", "--policy", str(policy)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return {(e["namespace"], e["workload"], e["container"]): {f: _amounts(e[f]) for f in FIELDS}
            for e in doc["recommendations"]}


def _vpas(histories: list[Container]) -> list[dict[str, Any]]:
    """The VPAs of the workloads whose containers carry a policy (as the harness builds)."""
    policies: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for c in histories:
        if c.policy is not None:
            policy = {"containerName": c.container, **c.policy}
            policies.setdefault((c.namespace, c.workload), {}).setdefault(
                policy["containerName"], policy)
    return [
        {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
         "metadata": {"namespace": ns, "name": workload.replace("/", ".").lower()},
         "spec": {"targetRef": {"kind": workload.split("/")[0], "name": workload.split("/")[1]},
                  "resourcePolicy": {"containerPolicies": list(table.values())}}}
        for (ns, workload), table in sorted(policies.items())
    ]


def _amounts(quantities: dict[str, str]) -> dict[str, int]:
    """Tidal's quantity strings as whole millicores and bytes."""
    return {"cpu": round(parse_quantity(quantities["cpu"]) * 1000),
            "memory": round(parse_quantity(quantities["memory"]))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vpa_strategy_matches_upstream(
    case: str, upstream: dict[tuple[str, str, str], Amounts],
    tidal: dict[tuple[str, str, str], Amounts],
) -> None:
    keys = sorted(k for k in upstream if k[0] == case)
    assert keys, f"upstream recommended nothing for {case}"
    assert sorted(k for k in tidal if k[0] == case) == keys
    differences = [
        f"{'/'.join(key[1:])} {name}.{resource}: upstream {upstream[key][name][resource]}, "
        f"tidal {tidal[key][name][resource]}"
        for key in keys for name in FIELDS for resource in ("cpu", "memory")
        if upstream[key][name][resource] != tidal[key][name][resource]
    ]
    assert not differences, "\n".join(differences)
