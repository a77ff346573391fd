"""Forecasts know the daily tide from the first loop: history backfilled from a real Prometheus."""

from __future__ import annotations

import pytest

from recommender.cluster.forecasts import ForecastService
from recommender.input.prometheus import PrometheusSettings, PrometheusSource
from recommender.metrics_api.board import MetricBoard
from recommender.metrics_api.selectors import parse_selector
from tests.prometheus.backfill import TIDE_BUSY, TIDE_PODS, TIDE_QUIET

pytestmark = pytest.mark.slow


def _hpa(namespace: str, name: str) -> dict:
    return {"metadata": {"namespace": namespace, "name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name},
                     "metrics": [{"type": "External", "external": {
                         "metric": {"name": "tidal_forecast", "selector": {"matchLabels": {
                             "workload": name, "signal": "cpu"}}},
                         "target": {"type": "AverageValue", "averageValue": "1"}}}]}}


def test_backfilled_history_forecasts_the_rise_ten_minutes_ahead(prometheus_server):
    board = MetricBoard()
    service = ForecastService(board, step_s=300, default_lead_s=900)
    service.set_requests([_hpa("tide", "api")])
    source = PrometheusSource(PrometheusSettings(prometheus_server.url))
    read = service.backfill(source, None, prometheus_server.end)
    assert read > 2 * 7 * 288  # two pods' 5-minute CPU for the last week (owners from KSM)
    assert service.backfill(source, None, prometheus_server.end) == 0  # once per workload
    assert service.publish(prometheus_server.end) == 1
    (value,) = board.find("tidal_forecast", "tide", parse_selector("workload=api"))
    # Demand now is QUIET; the rise to BUSY starts ten minutes from now, as on every day before.
    assert value.value == pytest.approx(len(TIDE_PODS) * TIDE_BUSY, rel=0.1)
    assert value.value > 4 * len(TIDE_PODS) * TIDE_QUIET


def test_a_promql_signal_is_forecast_from_its_own_history(prometheus_server):
    board = MetricBoard()
    service = ForecastService(board, step_s=300, default_lead_s=900)
    hpa = _hpa("tide", "api")
    hpa["metadata"]["annotations"] = {"tidal.dev/forecast-query.load": (
        'sum(rate(container_cpu_usage_seconds_total{namespace="tide",container!=""}[5m]))')}
    hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]["signal"] = "load"
    service.set_requests([hpa])
    source = PrometheusSource(PrometheusSettings(prometheus_server.url))
    assert service.backfill(source, None, prometheus_server.end) == 0  # not a resource signal
    assert service.poll_queries(source, prometheus_server.end) > 7 * 288  # a week, 5-minute
    assert service.poll_queries(source, prometheus_server.end + 60) == 0  # nothing new yet
    assert service.publish(prometheus_server.end) == 1
    (value,) = board.find("tidal_forecast", "tide", parse_selector("workload=api,signal=load"))
    assert value.value == pytest.approx(len(TIDE_PODS) * TIDE_BUSY, rel=0.1)


def test_a_broken_query_is_reported_and_publishes_nothing(prometheus_server, caplog):
    service = ForecastService(MetricBoard(), step_s=300)
    hpa = _hpa("tide", "api")
    hpa["metadata"]["annotations"] = {"tidal.dev/forecast-query.load": "sum(rate(x[5m]"}
    hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]["signal"] = "load"
    service.set_requests([hpa])
    source = PrometheusSource(PrometheusSettings(prometheus_server.url))
    assert service.poll_queries(source, prometheus_server.end) == 0
    assert "tidal.dev/forecast-query.load: prometheus rejected the query" in caplog.text
    assert service.publish(prometheus_server.end) == 0
