"""Report building on small synthetic histories: statuses, limits, flags, batch activity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from recommender.commands.common import build_model
from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, OOM, Samples
from recommender.logic.gpu import gpu_model
from recommender.logic.recommend import recommend
from recommender.logic.strategies import STRATEGIES
from recommender.quantity import Rounding
from recommender.report.build import ReportInputs, build_report, status_of
from recommender.report.formats import table
from recommender.report.manifests import ManifestSource
from recommender.report.model import NO_RECOMMENDATION, NO_REQUEST, OK, OVER, UNDER, UNKNOWN
from recommender.report.prices import Prices
from recommender.vpa import parse_vpa

MI, GI, GB = 2**20, 2**30, 10**9
END = 1_793_491_200.0


def series(ns: str, workload: str, pod: str, container: str, resource: str,
           times: np.ndarray, values: np.ndarray | float) -> Samples:
    n = len(times)
    return Samples.from_columns(times, [ns] * n, [workload] * n, [pod] * n, [container] * n,
                                [resource] * n, np.broadcast_to(values, (n,)).astype(float))


def report_for(samples: Samples, manifests: str, tmp_path: Path, vpas: str = "",
               gpu: str | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "workloads.yaml"
    path.write_text(manifests)
    policies = [parse_vpa(d) for d in yaml.safe_load_all(vpas) if d] if vpas else []
    model = build_model(samples)
    strategy = STRATEGIES.create("vpa")
    model_gpu = gpu_model(gpu)
    recs = recommend(model, strategy, policies, model_gpu)
    return build_report(ReportInputs(
        model=model, recommendations=recs, strategy=strategy,
        inventory=ManifestSource([path]).load(), vpas=policies, samples=samples, gpu=model_gpu,
        prices=Prices(cpu=0.04, memory=0.005, gpu=2.0), rounding=Rounding(1, MI),
        generated_at="2026-11-01T00:00:00Z",
    ))


def deployment(name: str, resources: str, replicas: int = 2) -> str:
    return f"""
kind: Deployment
metadata: {{name: {name}, namespace: ns}}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: app
          resources: {resources}
"""


TIMES = np.arange(END - 4 * 86400, END, 60.0)


@pytest.mark.parametrize(
    "current, target, known, status",
    [
        (1.0, 1.05, True, OK), (1.0, 1.2, True, UNDER), (1.0, 0.5, True, OVER),
        (None, 0.5, True, NO_REQUEST), (1.0, None, True, NO_RECOMMENDATION),
        (1.0, 0.5, False, UNKNOWN),
    ],
)
def test_status(current, target, known, status) -> None:  # type: ignore[no-untyped-def]
    assert status_of(current, target, known, 10.0) == status


def test_limits_keep_their_ratio_and_savings_use_replicas(tmp_path: Path) -> None:
    samples = Samples.concat([
        series("ns", "Deployment/app", "app-1", "app", CPU, TIMES, 0.5),
        series("ns", "Deployment/app", "app-1", "app", MEMORY, TIMES, 200 * MI),
    ])
    report = report_for(samples, deployment(
        "app", "{requests: {cpu: '2', memory: 1Gi}, limits: {cpu: '4', memory: 1Gi}}", 3),
        tmp_path)
    (c,) = report.containers
    cpu, memory = c.line("cpu"), c.line("memory")
    assert cpu is not None and memory is not None
    assert cpu.status == OVER and memory.status == OVER
    assert c.proposal is not None
    assert c.proposal.limits["cpu"] == pytest.approx(2 * c.proposal.requests["cpu"], abs=0.002)
    assert c.proposal.limits["memory"] == c.proposal.requests["memory"]
    assert cpu.target is not None and cpu.diff_per_pod == pytest.approx(cpu.target - 2.0)
    assert c.diff_total(cpu) == pytest.approx(3 * (cpu.target - 2.0))
    assert cpu.cost is not None
    assert cpu.cost.saving == pytest.approx((2.0 - cpu.target) * 3 * 0.04 * 730)
    assert report.cluster.by_resource["cpu"] == pytest.approx(cpu.cost.saving, abs=0.01)
    assert c.evidence["samples"] == len(TIMES)
    assert cpu.usage is not None and cpu.usage.max == 0.5
    assert not [f for f in c.flags if f.severity == "warning"]


def test_requests_only_policy_leaves_limits_alone(tmp_path: Path) -> None:
    samples = series("ns", "Deployment/app", "app-1", "app", CPU, TIMES, 0.5)
    vpa = """
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: app, namespace: ns}
spec:
  targetRef: {kind: Deployment, name: app}
  resourcePolicy:
    containerPolicies: [{containerName: "*", controlledValues: RequestsOnly,
                         maxAllowed: {cpu: 300m}}]
"""
    report = report_for(samples, deployment("app", "{requests: {cpu: '2'}, limits: {cpu: '4'}}"),
                        tmp_path, vpa)
    (c,) = report.containers
    assert c.proposal is not None and c.proposal.limits == {}
    cpu = c.line("cpu")
    assert cpu is not None and cpu.target == 0.3
    assert [f.code for f in c.flags] == ["capped"]
    assert c.has_vpa


def test_short_history_is_flagged(tmp_path: Path) -> None:
    times = TIMES[-30:]
    samples = series("ns", "Deployment/app", "app-1", "app", CPU, times, 0.2)
    report = report_for(samples, deployment("app", "{requests: {cpu: 100m}}"), tmp_path)
    (c,) = report.containers
    assert c.flags[0].code == "not-enough-data"
    assert "30 samples" in c.flags[0].message


def test_no_request_oom_and_limit_flags(tmp_path: Path) -> None:
    kills = TIMES[::1440]
    samples = Samples.concat([
        series("ns", "Deployment/app", "app-1", "app", CPU, TIMES, 0.1),
        series("ns", "Deployment/app", "app-1", "app", MEMORY, TIMES, 500 * MI),
        series("ns", "Deployment/app", "app-1", "app", OOM, kills, 512 * MI),
    ])
    report = report_for(samples, deployment("app", "{limits: {memory: 512Mi}}"), tmp_path)
    (c,) = report.containers
    cpu = c.line("cpu")
    assert cpu is not None and cpu.status == NO_REQUEST
    codes = [f.code for f in c.flags]
    assert "oom-killed" in codes and "limit-below-target" in codes
    assert f"OOMKilled {len(kills)} times in window" in [f.message for f in c.flags]


def test_batch_costs_count_only_the_time_pods_run(tmp_path: Path) -> None:
    parts = []
    for day in range(4):
        start = END - (4 - day) * 86400 + 3600
        times = np.arange(start, start + 7200, 60.0)
        parts.append(series("ns", "CronJob/job", f"job-{day}", "app", CPU, times, 1.0))
    manifest = """
kind: CronJob
metadata: {name: job, namespace: ns}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: app, resources: {requests: {cpu: '4'}}}]
"""
    report = report_for(Samples.concat(parts), manifest, tmp_path)
    (c,) = report.containers
    # four 2-hour pods over a window from the first to the last sample (~74 h)
    assert c.activity == pytest.approx(8 / 74, rel=0.02)
    cpu = c.line("cpu")
    assert cpu is not None and cpu.cost is not None
    assert cpu.cost.current == pytest.approx(4 * 0.04 * 730 * c.activity, rel=1e-3)


def test_gpu_section_and_mig_proposal(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    busy = np.where((TIMES // 3600) % 24 < 16, 0.01, 0.15) * rng.uniform(0.9, 1.1, len(TIMES))
    samples = Samples.concat([
        series("ns", "Deployment/app", "app-1", "app", CPU, TIMES, 0.2),
        series("ns", "Deployment/app", "app-1", "app", GPU, TIMES, busy),
        series("ns", "Deployment/app", "app-1", "app", GPU_MEMORY, TIMES, 4 * GB),
    ])
    vpa = """
kind: VerticalPodAutoscaler
metadata: {name: app, namespace: ns}
spec:
  targetRef: {kind: Deployment, name: app}
  resourcePolicy:
    containerPolicies: [{containerName: "*", controlledResources: [cpu, memory, nvidia.com/gpu]}]
"""
    report = report_for(
        samples, deployment("app", "{limits: {nvidia.com/gpu: '1'}}", 1), tmp_path, vpa,
        gpu="A100-80GB",
    )
    (c,) = report.containers
    gpu = c.line("gpu")
    assert gpu is not None and gpu.request == 1.0
    assert gpu.devices["target"] == {"nvidia.com/mig-2g.20gb": 1.0}  # p90 0.165 + 15% > 1/7
    assert gpu.status == OVER
    assert c.proposal is not None and c.proposal.remove == ("nvidia.com/gpu",)
    (g,) = report.gpus
    assert g.idle_share == pytest.approx(16 / 24, abs=0.02)
    assert [f.code for f in c.flags] == ["gpu-idle"]
    kinds = {o.kind: o for o in g.options}
    assert set(kinds) == {"whole", "mig", "shared"}
    assert kinds["whole"].count == 1 and kinds["whole"].monthly_saving == 0
    assert kinds["mig"].monthly_saving == pytest.approx((1 - 2 / 7) * 2.0 * 730)
    assert g.series and all(0 <= u <= 1 for _, u in g.series)


def test_unknown_workload_still_reports_its_recommendation(tmp_path: Path) -> None:
    samples = series("ns", "Deployment/other", "o-1", "app", CPU, TIMES, 0.2)
    report = report_for(samples, deployment("app", "{requests: {cpu: 100m}}"), tmp_path)
    by_workload = {c.workload: c for c in report.containers}
    other = by_workload["Deployment/other"]
    assert other.status == UNKNOWN and other.replicas is None
    assert [f.code for f in other.flags] == ["no-current"]
    app = by_workload["Deployment/app"]
    assert app.status == NO_RECOMMENDATION and app.flags[0].code == "no-history"
    text = table.render(report)
    assert "Deployment/other" in text and max(len(x) for x in text.splitlines()) <= 100


def test_usage_percentiles_never_exceed_the_largest_sample(demo_outputs) -> None:  # type: ignore[no-untyped-def]
    """Bucket ends (and OOM bumps in memory histograms) once printed p95 > max."""
    import json

    report = json.loads(demo_outputs["json"])
    lines = [r for c in report["containers"] for r in c["resources"] if r["usage"]]
    assert lines
    for line in lines:
        usage = line["usage"]
        assert usage["p50"] <= usage["p95"] <= usage["max"], line


def test_every_format_says_the_status_in_the_same_words(demo_outputs) -> None:  # type: ignore[no-untyped-def]
    """``over 40%`` (table), ``over -40%`` (HTML) and ``🔻 over (-40%)`` (Markdown) once."""
    for name in ("table", "markdown", "html"):
        text = demo_outputs[name]
        assert "over 43%" in text and "under 77%" in text, name
        assert "over -4" not in text and "over (" not in text, name
        assert ">no-recommendation<" not in text and "| no-recommendation" not in text, name
