"""A small cluster's history as OpenMetrics text, for ``promtool tsdb create-blocks-from``.

shop: Deployment web (ReplicaSet web-5f7d, pods -a and -b, container app) with an OOM kill
of web-5f7d-a; pod bad-1 with NaN and negative memory values.
tide: Deployment api whose CPU rises for two hours every day (forecast backfill).
ml: StatefulSet trainer (pod trainer-0) on two GPUs with the new dcgm-exporter labels and
both GR_ENGINE_ACTIVE and GPU_UTIL; StatefulSet legacy (pod legacy-0) with the old labels
and GPU_UTIL only, on an A100-40GB (the trainer's are A100-80GB).
"""

from __future__ import annotations

HOUR = 3600
DAY = 86400
SCRAPE = 300  # seconds between points (5 min keeps the test data small)
MIB = 2**20

WEB_CPU = {"web-5f7d-a": 0.5, "web-5f7d-b": 0.3}  # cores, constant
WEB_MEMORY = {"web-5f7d-a": 200 * MIB, "web-5f7d-b": 300 * MIB}
OOM_LIMIT = 512 * MIB
TRAINER_ENGINE = {"0": 0.6, "1": 0.4}  # GR_ENGINE_ACTIVE per GPU: 1.0 busy GPU in all
TRAINER_FB_MIB = {"0": 20000, "1": 10000}
LEGACY_UTIL = 35.0  # percent
LEGACY_FB_MIB = 8192
MODEL_NAME = "NVIDIA A100-SXM4-80GB"
LEGACY_MODEL_NAME = "NVIDIA A100-SXM4-40GB"  # two GPU models in one cluster
# tide: Deployment api (ReplicaSet api-7c9d, pods -a and -b): QUIET cores per pod, BUSY for
# two hours a day starting TIDE_AFTER seconds after the backfill's end (time of day).
TIDE_PODS = ("api-7c9d-a", "api-7c9d-b")
TIDE_QUIET, TIDE_BUSY, TIDE_AFTER = 0.25, 2.0, 600


def tide_cores(t: float, end: float) -> float:
    return TIDE_BUSY if (t - end - TIDE_AFTER) % DAY < 2 * HOUR else TIDE_QUIET


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


CLUSTER = "kind-a"  # every series carries it, as a multi-cluster Thanos's external label does


def _series(name: str, labels: dict[str, str], points: list[tuple[float, float]]) -> str:
    label_text = _labels(**labels, cluster=CLUSTER)
    return "".join(f"{name}{label_text} {_num(v)} {t:.0f}\n" for t, v in points)


def _num(value: float) -> str:
    if value != value:
        return "NaN"
    return repr(float(value))


def _integral(times: list[float], end: float) -> list[float]:
    """The CPU-seconds counter of a tide pod at each scrape."""
    total, out = 0.0, []
    for i, t in enumerate(times):
        if i:
            total += tide_cores(t, end) * (t - times[i - 1])
        out.append(total)
    return out


def openmetrics(start: float, end: float) -> str:
    """All series from ``start`` to ``end`` (Unix seconds) at SCRAPE intervals."""
    times = [start + i * SCRAPE for i in range(int((end - start) // SCRAPE) + 1)]
    out: list[str] = []
    cadvisor = {"job": "kubelet", "image": "x"}

    def family(name: str, series: list[tuple[dict[str, str], list[tuple[float, float]]]]):
        out.append(f"# TYPE {name} gauge\n" if not name.endswith("_total") else "")
        for labels, points in series:
            out.append(_series(name, labels, points))

    family("container_cpu_usage_seconds_total", [
        ({**cadvisor, "namespace": "shop", "pod": p, "container": "app"},
         [(t, cores * (t - start)) for t in times])
        for p, cores in WEB_CPU.items()
    ] + [  # the pause container and the pod cgroup are ignored
        ({**cadvisor, "namespace": "shop", "pod": "web-5f7d-a", "container": "POD"},
         [(t, 9.0 * (t - start)) for t in times]),
    ] + [
        ({**cadvisor, "namespace": "tide", "pod": p, "container": "api"},
         list(zip(times, _integral(times, end), strict=True))) for p in TIDE_PODS
    ])
    family("container_memory_working_set_bytes", [
        ({**cadvisor, "namespace": "shop", "pod": p, "container": "app"},
         [(t, float(b)) for t in times]) for p, b in WEB_MEMORY.items()
    ] + [
        ({**cadvisor, "namespace": "shop", "pod": "bad-1", "container": "app"},
         [(t, float("nan") if (t // HOUR) % 2 else -1.0) for t in times]),
    ])
    oom_from, oom_to = end - 2 * DAY, end - 1.5 * DAY
    family("kube_pod_container_status_last_terminated_reason", [
        ({"namespace": "shop", "pod": "web-5f7d-a", "container": "app", "reason": "OOMKilled"},
         [(t, 1.0) for t in times if oom_from <= t <= oom_to]),
    ])
    family("kube_pod_container_resource_limits", [
        ({"namespace": "shop", "pod": p, "container": "app", "resource": "memory",
          "unit": "byte"}, [(t, float(OOM_LIMIT)) for t in times]) for p in WEB_CPU
    ])
    owners = [("shop", p, "ReplicaSet", "web-5f7d") for p in WEB_CPU] + [
        ("tide", p, "ReplicaSet", "api-7c9d") for p in TIDE_PODS] + [
        ("ml", "trainer-0", "StatefulSet", "trainer"),
        ("ml", "legacy-0", "StatefulSet", "legacy"),
    ]
    family("kube_pod_owner", [
        ({"namespace": ns, "pod": p, "owner_kind": k, "owner_name": n,
          "owner_is_controller": "true"}, [(t, 1.0) for t in times])
        for ns, p, k, n in owners
    ])
    family("kube_replicaset_owner", [
        ({"namespace": ns, "replicaset": rs, "owner_kind": "Deployment",
          "owner_name": name, "owner_is_controller": "true"}, [(t, 1.0) for t in times])
        for ns, rs, name in (("shop", "web-5f7d", "web"), ("tide", "api-7c9d", "api"))
    ])
    new = {"namespace": "ml", "pod": "trainer-0", "container": "train", "Hostname": "gpu-node",
           "modelName": MODEL_NAME}
    old = {"namespace": "gpu-operator", "pod_namespace": "ml", "pod_name": "legacy-0",
           "container_name": "infer", "Hostname": "old-gpu-node", "modelName": LEGACY_MODEL_NAME}
    family("DCGM_FI_PROF_GR_ENGINE_ACTIVE", [
        ({**new, "gpu": g, "UUID": f"GPU-{g}"}, [(t, v) for t in times])
        for g, v in TRAINER_ENGINE.items()
    ])
    family("DCGM_FI_DEV_GPU_UTIL", [
        ({**new, "gpu": g, "UUID": f"GPU-{g}"}, [(t, 99.0) for t in times])
        for g in TRAINER_ENGINE
    ] + [({**old, "gpu": "2", "UUID": "GPU-2"}, [(t, LEGACY_UTIL) for t in times])])
    family("DCGM_FI_DEV_FB_USED", [
        ({**new, "gpu": g, "UUID": f"GPU-{g}"}, [(t, float(v)) for t in times])
        for g, v in TRAINER_FB_MIB.items()
    ] + [({**old, "gpu": "2", "UUID": "GPU-2"}, [(t, float(LEGACY_FB_MIB)) for t in times])])
    out.append("# EOF\n")
    return "".join(out)
