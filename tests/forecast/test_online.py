"""The in-cluster side of forecasts: which HPAs ask, the demand history, published values."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from recommender.cluster.forecasts import ForecastService, forecast_requests
from recommender.cluster.pods import pod_info
from recommender.cluster.targets import PodInfo, TargetIndex
from recommender.history import Samples
from recommender.metrics_api.board import MetricBoard
from recommender.metrics_api.selectors import parse_selector
from recommender.model.demand import DemandHistory

DAY = 86400.0
T0 = 1_790_035_200.0  # a UTC midnight


def hpa(name="web", metrics=None, annotations=None, kind="Deployment"):
    return {
        "metadata": {"namespace": "shop", "name": name, "annotations": annotations or {}},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                 "metrics": metrics or []},
    }


def external(labels, name="tidal_forecast"):
    return {"type": "External", "external": {
        "metric": {"name": name, "selector": {"matchLabels": labels}},
        "target": {"type": "AverageValue", "averageValue": "800m"}}}


def test_requests_come_from_external_tidal_forecast_metrics():
    reqs, problems = forecast_requests(hpa(metrics=[
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
        external({"workload": "web", "signal": "gpu"}),
        external({"workload": "web"}, name="qps"),
    ], annotations={"tidal.dev/forecast-lead": "30m"}))
    assert problems == []
    assert [(r.namespace, r.kind, r.name, r.signal, r.lead_s) for r in reqs] == [
        ("shop", "Deployment", "web", "gpu", 1800.0)]
    assert reqs[0].key == ("shop", "Deployment/web", "gpu")


def test_bad_lead_and_signal_are_reported_not_fatal():
    reqs, problems = forecast_requests(hpa(metrics=[
        external({"workload": "web", "signal": "memory"}), external({"workload": "web"}),
    ], annotations={"tidal.dev/forecast-lead": "soon"}))
    assert [(r.signal, r.lead_s) for r in reqs] == [("cpu", None)]  # measured, or the default
    assert any("tidal.dev/forecast-lead" in p and "invalid duration" in p for p in problems)
    assert any("signal 'memory'" in p for p in problems)


def tide(pods, start, end, step=60.0):
    """Pods of shop/Deployment/web: 1 core each, 4 from 09:00 to 17:00 UTC."""
    rows = []
    for t in np.arange(start, end, step):
        hour = (t % DAY) / 3600
        for pod in pods:
            rows.append((t + 7, "shop", "Deployment/web", pod, "app", "cpu",
                         4.0 if 9 <= hour < 17 else 1.0))
    return Samples.from_rows(rows)


def test_history_sums_pods_keeps_days_and_shifts_without_losing_the_recent_ones():
    history = DemandHistory(step_s=300, days=2, shift_days=0.5)
    history.track([("shop", "Deployment/web", "cpu")])
    history.add(tide(["a", "b"], T0, T0 + 3600))
    assert np.nanmax(history.values) == pytest.approx(2.0)
    first_base = history.base
    for day in range(3):  # a loop's worth at a time, as the metrics API delivers
        start = T0 + 3600 + day * DAY
        for t in np.arange(start, start + DAY, 3600):
            history.add(tide(["a", "b"], t, t + 3600))
    assert history.base > first_base
    newest = int((T0 + 3 * DAY + 3600 - 1) // 300) - history.base
    assert np.isfinite(history.values[0, newest - 2 * 288 + 1: newest + 1]).all()


def test_service_publishes_forecasts_ahead_of_the_daily_rise():
    board = MetricBoard()
    registry = CollectorRegistry()
    service = ForecastService(board, registry, step_s=300, default_lead_s=900)
    service.set_requests([hpa(metrics=[external({"workload": "web", "signal": "cpu"})])])
    now = T0 + 2 * DAY + 8 * 3600 + 50 * 60  # 08:50 on day 3, the rise at 09:00
    service.observe(tide(["a", "b"], T0, now))
    assert service.publish(now) == 1
    (value,) = board.find("tidal_forecast", "shop", parse_selector("workload=web,signal=cpu"))
    assert value.value > 7.5 and value.labels == {"workload": "web", "kind": "Deployment",
                                                  "signal": "cpu"}
    assert b'tidal_forecast{kind="Deployment",namespace="shop",signal="cpu",workload="web"}' \
        in generate_latest(registry)
    # An HPA that no longer asks: nothing is served or exported for it.
    service.set_requests([hpa()])
    assert service.publish(now) == 0
    assert board.find("tidal_forecast", "shop", ()) == []
    assert b'workload="web"' not in generate_latest(registry)


def test_service_without_recent_samples_publishes_nothing():
    service = ForecastService(MetricBoard(), step_s=300)
    service.set_requests([hpa(metrics=[external({"workload": "web"})])])
    service.observe(tide(["a"], T0, T0 + 3600))
    assert service.publish(T0 + 3 * 3600) == 0  # two hours since the last sample


def test_lead_is_the_annotation_else_the_measured_cold_start_else_the_default():
    service = ForecastService(MetricBoard(), step_s=300, default_lead_s=900)
    service.set_requests([hpa(metrics=[external({"workload": "web"})]),
                          hpa("api", metrics=[external({"workload": "api"})],
                              annotations={"tidal.dev/forecast-lead": "20m"})])
    web, api = sorted(service.requests, key=lambda r: r.name, reverse=True)
    assert (service.lead_of(web), service.lead_of(api)) == (900, 1200)
    pods = [PodInfo("shop", f"web-{i}", "Deployment/web", ("app",), {}, ready_after_s=s)
            for i, s in enumerate((400.0, 480.0, 9000.0))]
    pods.append(PodInfo("shop", "web-new", "Deployment/web", ("app",), {}))  # not Ready yet
    service.observe_pods(pods)
    assert service.lead_of(web) == 480.0 + 300 + 15  # median cold start + a step + a sync
    assert service.lead_of(api) == 1200  # an explicit lead wins
    service.observe_pods([])  # the pods are gone: the measurement stays
    assert service.lead_of(web) == 795.0


def test_pod_ready_after_creation():
    pod = {"metadata": {"name": "web-1", "namespace": "shop",
                        "creationTimestamp": "2026-12-06T10:00:00Z"},
           "spec": {"containers": [{"name": "app"}]},
           "status": {"phase": "Running", "conditions": [
               {"type": "PodScheduled", "status": "True",
                "lastTransitionTime": "2026-12-06T10:00:01Z"},
               {"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-12-06T10:07:30Z"}]}}
    assert pod_info(pod, TargetIndex()).ready_after_s == 450.0
    pod["status"]["conditions"][1]["status"] = "False"
    assert pod_info(pod, TargetIndex()).ready_after_s is None


def test_a_signal_of_ones_own_needs_its_promql_annotation():
    query = 'sum(rate(http_requests_total{service="web"}[1m]))'
    reqs, problems = forecast_requests(hpa(metrics=[
        external({"workload": "web", "signal": "qps"}),
        external({"workload": "web", "signal": "queue"}),
    ], annotations={"tidal.dev/forecast-query.qps": query}))
    assert [(r.signal, r.query, r.key[2]) for r in reqs] == [("qps", query, "promql:qps")]
    (problem,) = problems
    assert "signal 'queue'" in problem and "tidal.dev/forecast-query.queue" in problem
