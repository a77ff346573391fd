"""Peak forecasts: demand grids from pod samples, causality, seasonality, the short-history
fallback."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.history import Samples
from recommender.logic.forecast import (
    ForecastParams,
    analog_offsets,
    demand_grid,
    peak_forecast,
)

STEP = 300.0
PER_DAY = 288


def samples(rows: list[tuple[float, str, str, str, float]]) -> Samples:
    """Rows of (timestamp, workload, pod, resource, value) in namespace ``ns``."""
    return Samples.from_rows((t, "ns", w, p, "app", r, v) for t, w, p, r, v in rows)


def test_grid_sums_pods_at_the_same_time_not_their_separate_peaks():
    # Two pods alternate their load: the sum is always 1, the sum of their peaks would be 2.
    rows = []
    for i in range(10):
        t = 1_000_000_200 + 60 * i
        rows += [(t, "Deployment/web", "a", "cpu", float(i % 2)),
                 (t, "Deployment/web", "b", "cpu", float(1 - i % 2))]
    grid = demand_grid(samples(rows), "cpu", STEP)
    assert grid.keys == [("ns", "Deployment/web")]
    assert np.nanmax(grid.values) == pytest.approx(1.0)


def test_grid_buckets_align_to_multiples_of_the_step_and_carry_a_missed_sample():
    t0 = 1_000_000_800  # a multiple of 300 s plus 200 s
    rows = [(t0 - 200 + 60 * i + 5, "Deployment/web", "a", "cpu", 2.0) for i in range(20)
            if i != 7]  # one missed scrape
    rows += [(t0 - 200 + 60 * i + 5, "Deployment/web", "b", "cpu", 1.0) for i in range(20)]
    rows += [(t0, "Deployment/web", "a", "memory", 9e9)]
    grid = demand_grid(samples(rows), "cpu", STEP)
    assert grid.t0 % STEP == 0
    assert grid.t0 <= t0 - 195 < grid.t0 + STEP
    assert np.allclose(grid.values, 3.0)  # pod a's gap is carried, not read as 0 + 1


def test_grid_keeps_workloads_and_namespaces_apart():
    rows = [(1e9 + 60 * i, w, f"{w}-p", "gpu", v) for i in range(5)
            for w, v in (("Deployment/a", 0.5), ("Deployment/b", 0.25))]
    grid = demand_grid(samples(rows), "gpu", 60.0)
    assert grid.keys == [("ns", "Deployment/a"), ("ns", "Deployment/b")]
    assert np.allclose(np.nanmax(grid.values, axis=1), [0.5, 0.25])
    assert demand_grid(samples(rows), "cpu", 60.0).keys == []


def daily_wave(days: int, seed: int = 0) -> np.ndarray:
    """One workload: 1 core at night, 4 cores from 09:00 to 17:00, a little noise."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(days * PER_DAY) % PER_DAY) * STEP / 3600
    return (np.where((hours >= 9) & (hours < 17), 4.0, 1.0)
            + rng.uniform(0, 0.1, days * PER_DAY))[None, :]


def test_forecast_uses_only_buckets_before_t():
    values = daily_wave(4)
    at = np.arange(values.shape[1])
    before = peak_forecast(values, at, 3, STEP)
    for t in (PER_DAY + 10, 3 * PER_DAY + 100):
        changed = values.copy()
        changed[:, t:] *= 7.0
        after = peak_forecast(changed, at, 3, STEP)
        assert np.allclose(before[:, : t + 1], after[:, : t + 1], equal_nan=True)
        assert not np.allclose(before[:, t + 1:], after[:, t + 1:])


def test_forecast_rises_before_the_daily_rise_once_it_has_seen_a_day():
    values = daily_wave(3)
    lead = 3
    nine = 2 * PER_DAY + 9 * 12  # 09:00 on day 3: the bucket where the rise starts
    forecast = peak_forecast(values, np.arange(values.shape[1]), lead, STEP)
    assert forecast[0, nine - 2] > 3.5  # the step into [t, t + lead) is predicted
    assert forecast[0, nine - 2 - PER_DAY * 2] < 1.5  # day 1: nothing to go on yet
    assert 1.0 <= forecast[0, nine - 30] < 1.3  # quiet hours stay at the level
    # After the evening drop the forecast follows the level down.
    seventeen = 2 * PER_DAY + 17 * 12
    assert forecast[0, seventeen + lead + 1] < 1.3


def test_short_history_falls_back_to_the_recent_level():
    values = np.array([[1.0, 2.0, 5.0, 3.0, 2.0, 2.0, np.nan, np.nan]])
    forecast = peak_forecast(values, np.arange(9), 2, STEP)
    assert np.isnan(forecast[0, 0])  # nothing before the first bucket
    assert forecast[0, 3] == 5.0  # max of buckets 1..2
    assert forecast[0, 6] == 2.0
    assert forecast[0, 7] == 2.0  # only bucket 5 of the last two is known
    assert np.isnan(forecast[0, 8])  # no bucket in the last lead: no forecast


def test_quantile_is_the_margin_over_the_analogs():
    values = daily_wave(8, seed=3)
    at = np.arange(7 * PER_DAY, 8 * PER_DAY)
    low = peak_forecast(values, at, 3, STEP, ForecastParams(quantile=0.1))
    high = peak_forecast(values, at, 3, STEP, ForecastParams(quantile=0.9))
    assert (high >= low).all() and (high > low).mean() > 0.5


def test_analogs_are_whole_days_back_and_never_inside_the_lead():
    offsets, weights = analog_offsets(STEP, 3)
    assert sorted(set(offsets % PER_DAY)) == [0, 1, PER_DAY - 1]
    assert (offsets >= 3).all()
    assert weights[list(offsets).index(7 * PER_DAY)] == ForecastParams().weekly_weight
    assert len(analog_offsets(3600.0, 30)[0]) == 6 * 3  # a 30 h lead drops the 1-day analogs
    assert (analog_offsets(3600.0, 30)[0] >= 30).all()
