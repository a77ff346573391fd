"""History bootstrap, DCGM attribution and owner grouping against a real Prometheus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, OOM, Samples
from recommender.input.dcgm import gpu_models
from recommender.input.prometheus import (
    FetchStats,
    PrometheusClient,
    PrometheusSettings,
    PrometheusSource,
)
from tests.prometheus.backfill import (
    DAY,
    HOUR,
    LEGACY_FB_MIB,
    LEGACY_MODEL_NAME,
    LEGACY_UTIL,
    MIB,
    MODEL_NAME,
    OOM_LIMIT,
    TRAINER_ENGINE,
    TRAINER_FB_MIB,
    WEB_CPU,
    WEB_MEMORY,
)
from tests.prometheus.conftest import PrometheusServer

pytestmark = pytest.mark.slow


class RecordingClient(PrometheusClient):
    """Remembers the time range of every range query."""

    def __init__(self, url: str) -> None:
        super().__init__(url, retries=0)
        self.ranges: list[tuple[float, float, float]] = []

    def query_range(self, query, start, end, step):
        self.ranges.append((start, end, step))
        return super().query_range(query, start, end, step)


@pytest.fixture(scope="module")
def bootstrap(prometheus_server: PrometheusServer):
    settings = PrometheusSettings(prometheus_server.url)  # defaults: 8 d, 1 h, 1 d chunks
    client = RecordingClient(prometheus_server.url)
    stats = FetchStats()
    end = prometheus_server.end
    samples = PrometheusSource(settings, client).history(
        end - settings.history_length_s, end, None, stats
    )
    return samples, stats, client, end


def _where(samples: Samples, **columns: str) -> Samples:
    mask = np.ones(len(samples), dtype=bool)
    for name, value in columns.items():
        mask &= getattr(samples, name) == value
    return samples.select(mask)


def test_bootstrap_reads_8_days_at_1h_in_day_sized_chunks(bootstrap):
    samples, stats, client, end = bootstrap
    assert stats.chunks == 9  # 8 days of whole hours: 193 evaluation times, 24 per query
    assert len(client.ranges) == stats.queries == 9 * 5
    for start, stop, step in client.ranges:
        assert step == HOUR
        assert stop - start <= DAY - HOUR
        assert start % HOUR == 0
    cpu = _where(samples, resource=CPU, pod="web-5f7d-a")
    times = np.sort(cpu.timestamp)
    assert np.all(np.diff(times) == HOUR)  # 1 h resolution, no step read twice
    assert times[0] == end - 8 * DAY and times[-1] == end


def test_cpu_rate_and_memory_peaks_per_container(bootstrap):
    samples = bootstrap[0]
    for pod, cores in WEB_CPU.items():
        cpu = _where(samples, resource=CPU, pod=pod, container="app")
        assert len(cpu) > 190
        assert np.allclose(cpu.value, cores, rtol=1e-6)
        memory = _where(samples, resource=MEMORY, pod=pod)
        assert np.all(memory.value == WEB_MEMORY[pod])
    assert not len(_where(samples, container="POD"))


def test_pods_are_grouped_by_owner_from_kube_state_metrics(bootstrap):
    samples = bootstrap[0]
    assert set(_where(samples, pod="web-5f7d-a").workload) == {"Deployment/web"}
    assert set(_where(samples, pod="trainer-0").workload) == {"StatefulSet/trainer"}
    assert set(_where(samples, pod="bad-1").workload) <= {"Pod/bad-1"}


def test_api_owners_win_over_kube_state_metrics(prometheus_server):
    settings = PrometheusSettings(prometheus_server.url, history_length_s=DAY)
    end = prometheus_server.end
    samples = PrometheusSource(settings).history(
        end - DAY, end, lambda ns, pod: "Rollout/web" if pod == "web-5f7d-b" else None
    )
    assert set(_where(samples, pod="web-5f7d-b").workload) == {"Rollout/web"}
    assert set(_where(samples, pod="web-5f7d-a").workload) == {"Deployment/web"}


def test_malformed_samples_are_dropped_and_counted(bootstrap):
    samples, stats = bootstrap[0], bootstrap[1]
    assert not len(_where(samples, pod="bad-1"))
    assert stats.dropped >= 190  # every NaN and negative step of bad-1
    assert np.all(np.isfinite(samples.value)) and np.all(samples.value >= 0)


def test_oom_kill_is_one_sample_at_the_memory_limit(bootstrap):
    samples, _, _, end = bootstrap
    oom = _where(samples, resource=OOM)
    assert len(oom) == 1
    assert oom.pod[0] == "web-5f7d-a" and oom.value[0] == OOM_LIMIT
    assert end - 2 * DAY <= oom.timestamp[0] <= end - 1.5 * DAY + HOUR


def test_dcgm_prefers_gr_engine_active_summed_over_gpus(bootstrap):
    gpu = _where(bootstrap[0], resource=GPU, pod="trainer-0", container="train")
    assert len(gpu) > 190
    assert np.allclose(gpu.value, sum(TRAINER_ENGINE.values()))  # not GPU_UTIL's 99%
    memory = _where(bootstrap[0], resource=GPU_MEMORY, pod="trainer-0")
    assert np.all(memory.value == sum(TRAINER_FB_MIB.values()) * MIB)


def test_dcgm_old_labels_and_gpu_util_fallback(bootstrap):
    samples = bootstrap[0]
    gpu = _where(samples, resource=GPU, namespace="ml", pod="legacy-0", container="infer")
    assert len(gpu) > 190
    assert np.allclose(gpu.value, LEGACY_UTIL / 100)
    assert set(gpu.workload) == {"StatefulSet/legacy"}
    memory = _where(samples, resource=GPU_MEMORY, pod="legacy-0")
    assert np.all(memory.value == LEGACY_FB_MIB * MIB)
    assert not len(_where(samples, namespace="gpu-operator"))


def test_namespace_filter(prometheus_server):
    settings = PrometheusSettings(prometheus_server.url, namespace="ml")
    end = prometheus_server.end
    samples = PrometheusSource(settings).history(end - DAY, end)
    assert set(samples.namespace) == {"ml"}
    assert {GPU, GPU_MEMORY} <= set(samples.resource)


def test_gpu_model_from_model_name(prometheus_server):
    client = PrometheusClient(prometheus_server.url)
    assert gpu_models(client, prometheus_server.end) == [MODEL_NAME, LEGACY_MODEL_NAME]


def test_recommend_cli_reads_prometheus(prometheus_server, capsys):
    from recommender.cli import main

    code = main(["recommend", "--prometheus-url", prometheus_server.url, "--namespace", "shop",
                 "--history-length", "8d", "--format", "json"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Deployment/web" in out and "bad-1" not in out


def test_report_cli_reads_prometheus(prometheus_server, capsys):
    from recommender.cli import main

    code = main(["report", "--prometheus-url", prometheus_server.url, "--namespace", "ml",
                 "--history-length", "2d", "--format", "json"])
    assert code == 0
    out = capsys.readouterr().out
    assert "StatefulSet/trainer" in out and "StatefulSet/legacy" in out


def test_unreachable_prometheus_is_retried_then_reported():
    delays: list[float] = []
    client = PrometheusClient("http://127.0.0.1:9", retries=3, retry_delay_s=0.5,
                              sleep=delays.append)
    from recommender.input.backoff import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="unreachable"):
        client.query("up", 0)
    assert delays == [0.5, 1.0, 2.0] and client.requests == 4
    assert not math.isnan(sum(delays))


@pytest.mark.parametrize(("product", "model"), [
    ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
    ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
    ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
    ("NVIDIA H200", "H200-141GB"),
    ("NVIDIA H100 NVL", "H100-94GB"),
    ("NVIDIA H100 PCIe", "H100-80GB"),
    ("NVIDIA A100-SXM4", None),  # 40 or 80 GB: not guessed
    ("Tesla-T4", "T4"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA L4", "L4"),
    ("Quadro RTX 8000", None),
])
def test_gpu_product_names_map_to_models(product, model):
    from recommender.logic.gpu import model_from_product

    assert model_from_product(product) == model


def test_offline_commands_take_the_gpu_model_from_dcgm(prometheus_server, capsys, tmp_path):
    import json

    from recommender.cli import main

    code = main(["report", "--prometheus-url", prometheus_server.url, "--namespace", "ml",
                 "--history-length", "2d", "--format", "json"])
    assert code == 0
    captured = capsys.readouterr()
    assert "GPU model A100-80GB from dcgm-exporter's modelName 'NVIDIA A100-SXM4-80GB' " \
        "(--gpu-model overrides); also seen: NVIDIA A100-SXM4-40GB: each workload is sized " \
        "for its own" in captured.err
    doc = json.loads(captured.out)
    assert doc["gpuModel"] == "A100-80GB"  # the most common
    # The legacy pod's 8 GiB at 35% busy fits a MIG profile of its own model, an A100-40GB.
    (legacy,) = [g for g in doc["gpus"] if g["workload"] == "StatefulSet/legacy"]
    assert legacy["model"] == "A100-40GB"
    assert [o["resource"] for o in legacy["options"] if o["kind"] == "mig"] == [
        "nvidia.com/mig-3g.20gb"]
    (trainer,) = [g for g in doc["gpus"] if g["workload"] == "StatefulSet/trainer"]
    assert trainer["model"] == "A100-80GB"
    # recommend sizes each workload for its model too; --gpu-model makes one model for all.
    policy = tmp_path / "vpa.json"
    policy.write_text(json.dumps({
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "legacy", "namespace": "ml"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "legacy"},
                 "resourcePolicy": {"containerPolicies": [{
                     "containerName": "*",
                     "controlledResources": ["cpu", "memory", "nvidia.com/gpu"]}]}}}))
    for flags, profile in (((), "3g.20gb"), (("--gpu-model", "A100-80GB"), "3g.40gb")):
        assert main(["recommend", "--prometheus-url", prometheus_server.url, "--namespace", "ml",
                     "--history-length", "2d", "--format", "json", "--policy", str(policy),
                     *flags]) == 0
        recs = json.loads(capsys.readouterr().out)["recommendations"]
        (target,) = [r["target"] for r in recs if r["workload"] == "StatefulSet/legacy"]
        assert f"nvidia.com/mig-{profile}" in target
    code = main(["report", "--prometheus-url", prometheus_server.url, "--namespace", "ml",
                 "--history-length", "2d", "--format", "json", "--gpu-model", "A100-40GB"])
    assert json.loads(capsys.readouterr().out)["gpuModel"] == "A100-40GB"


def test_a_cluster_selector_scopes_every_query(prometheus_server, capsys):
    import json

    from recommender.cli import main
    from tests.prometheus.backfill import CLUSTER

    def targets(*flags: str) -> list[tuple[str, str]]:
        assert main(["recommend", "--prometheus-url", prometheus_server.url, "--namespace",
                     "shop", "--history-length", "8d", "--format", "json", *flags]) == 0
        doc = json.loads(capsys.readouterr().out)
        return [(r["workload"], r["target"]["cpu"]) for r in doc["recommendations"]]

    everything = targets()
    assert everything and targets("--prometheus-selector", f'cluster="{CLUSTER}"') == everything
    assert targets("--prometheus-selector", 'cluster="another"') == []
    assert main(["recommend", "--prometheus-url", prometheus_server.url,
                 "--prometheus-selector", "cluster=prod"]) == 2
    assert "expected label matchers" in capsys.readouterr().err
