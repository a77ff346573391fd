"""The HPA controller replayed: cold starts, tolerance, stabilisation, scale-up limits, and the
forecast metric beside the reactive one."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.backtest.replicas import (
    NAIVE,
    ORACLE,
    REACTIVE,
    STATIC,
    TIDAL,
    HpaSetup,
    backtest_replicas,
    replica_capacity,
    simulate,
)
from recommender.logic.forecast import DemandGrid

STEP = 60.0


def run(demand, forecast=None, **setup):
    values = np.array([demand], dtype=float)
    f = None if forecast is None else np.array([forecast], dtype=float)
    hours, under, events, ready, spec = simulate(values, np.array([1.0]), f,
                                                 HpaSetup(**setup), STEP)
    return hours[0], under[0], events[0], ready[0], spec[0]


def test_new_replicas_are_ready_only_after_the_cold_start():
    demand = [4.0] * 5 + [8.0] * 20  # 5 replicas at 0.8, then 10
    _, under, _, ready, spec = run(demand, cold_start_s=300)
    assert spec[4] == 5 and spec[5] == 10  # created at once
    assert list(ready[5:11]) == [5, 5, 5, 5, 5, 10]  # ready 5 minutes later
    assert under == pytest.approx(5 / 25)  # short of capacity for those 5 of 25 minutes
    _, under_now, *_ = run(demand, cold_start_s=0)
    assert under_now == 0.0


def test_tolerance_keeps_the_count_near_the_target():
    _, _, events, _, spec = run([4.0] * 3 + [4.3] * 10)  # ratio 1.075: within 10%
    assert events == 0 and spec[-1] == 5
    _, _, events, _, spec = run([4.0] * 3 + [4.5] * 10)  # ratio 1.125: scale to 6
    assert spec[-1] == 6


def test_scale_down_waits_for_the_stabilisation_window():
    demand = [8.0] * 10 + [1.6] * 15
    _, _, _, _, spec = run(demand, cold_start_s=0)
    assert spec[10:14].tolist() == [10, 10, 10, 10]  # the last 5 minutes still held 10
    assert spec[15] == 2


def test_scale_up_is_limited_to_double_or_four_more_per_sync():
    _, _, _, _, spec = run([0.4] * 2 + [80.0] * 3, cold_start_s=0, sync_s=60)
    assert spec.tolist() == [1, 1, 5, 10, 20]


def test_scale_down_removes_starting_pods_first():
    # Up to 10 (5 starting), then the demand vanishes at once: the starting pods go first.
    demand = [4.0] * 3 + [8.0] + [0.8] * 12
    _, _, _, ready, spec = run(demand, cold_start_s=600, stabilization_s=60, sync_s=60)
    assert spec[3] == 10 and ready[3] == 5
    # Starting pods count at 100% of the target when scaling down: 10 -> 6, removing four
    # starting pods and none of the ready ones; then 2 and 1.
    assert (spec[4], ready[4]) == (6, 5)
    assert (spec[5], ready[5]) == (2, 2)
    assert (spec[6], ready[6]) == (1, 1)


def test_forecast_metric_scales_before_the_rise_and_reactive_does_not():
    demand = [4.0] * 20 + [8.0] * 20
    forecast = [4.0] * 10 + [8.0] * 30  # the rise, known 10 minutes ahead
    _, under_reactive, *_ = run(demand, cold_start_s=600)
    hours, under, _, ready, _ = run(demand, forecast, cold_start_s=600)
    assert under_reactive > 0.2 and under == 0.0
    assert ready[20] == 10
    # A forecast below the reactive metric never lowers the count (the HPA takes the max).
    _, _, _, _, spec_low = run(demand, [0.0] * 40, cold_start_s=600)
    _, _, _, _, spec_none = run(demand, cold_start_s=600)
    assert (spec_low == spec_none).all()


def test_replica_capacity_forms():
    demand = np.array([np.arange(101, dtype=float), np.zeros(101)])
    assert replica_capacity(demand, "p99/10").tolist() == pytest.approx([9.9, 0.0])
    assert replica_capacity(demand, "2.5").tolist() == [2.5, 2.5]
    for bad in ("p0/10", "p99/0", "-1", "x"):
        with pytest.raises(ValueError):
            replica_capacity(demand, bad)


def test_backtest_ranks_the_strategies_on_a_daily_tide():
    per_day = 288
    hours = (np.arange(4 * per_day) % per_day) / 12
    rng = np.random.default_rng(1)
    demand = np.where((hours >= 9) & (hours < 17), 40.0, 10.0) + rng.uniform(0, 2, 4 * per_day)
    grid = DemandGrid([("ns", "Deployment/web")], 0.0, 300.0, demand[None, :])
    results = {r.strategy: r for r in backtest_replicas(
        grid, np.array([4.0]), HpaSetup(cold_start_s=600), score_from=per_day)}
    assert set(results) == {STATIC, REACTIVE, TIDAL, NAIVE, ORACLE}
    assert results[STATIC].total_under_share == 0.0
    assert results[REACTIVE].total_under_share > 0.005  # short at every morning's rise
    assert results[TIDAL].total_under_share < results[REACTIVE].total_under_share / 2
    assert results[ORACLE].total_under_share <= min(0.001, results[TIDAL].total_under_share)
    assert (results[REACTIVE].total_replica_hours < results[TIDAL].total_replica_hours
            < results[STATIC].total_replica_hours)
