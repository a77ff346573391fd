"""The tidal and percentile strategies on synthetic histories with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.history import Samples
from recommender.logic.percentile import PercentileStrategy
from recommender.logic.strategies import STRATEGIES, VpaStrategy, prepare_model
from recommender.logic.tidal import TidalStrategy, window_maxima
from recommender.model.state import UsageModel
from recommender.model.windows import DailyHistograms, HourlyPeaks
from tests.recommender.builders import DAY, MI, T0, steady

HOUR = 3600.0


def fed(strategy, *parts: Samples) -> UsageModel:
    model = prepare_model(UsageModel(), strategy)
    model.ingest(Samples.concat(parts).sorted_by_time())
    return model


def targets(strategy, model: UsageModel) -> dict[str, float]:
    """Next-hours targets (what the updater applies in place)."""
    rows = model.rows_with_history()
    bounds = strategy.estimate(model, rows, np.ones(len(rows)), np.ones(len(rows), bool))
    return {r: float(b.target[0]) for r, b in bounds.items()}


def test_registry_names_and_protocol():
    assert {"vpa", "tidal", "percentile"} <= set(STRATEGIES.names())
    assert STRATEGIES.create("tidal").name == "tidal"
    assert STRATEGIES.create("percentile").name == "percentile"


def test_window_maxima_match_brute_force():
    rng = np.random.default_rng(3)
    peaks = rng.uniform(0, 10, (4, 50))
    peaks[rng.uniform(size=peaks.shape) < 0.2] = np.nan
    windows = (1, 3, 5, 8, 13)
    got = window_maxima(peaks, windows)
    for i, w in enumerate(windows):
        for j in range(50):
            chunk = peaks[:, max(0, j - w + 1): j + 1]
            with np.errstate(all="ignore"), pytest.warns(RuntimeWarning) if np.isnan(
                chunk
            ).all(axis=1).any() else _nothing():
                expected = np.nanmax(chunk, axis=1)
            np.testing.assert_array_equal(got[i, :, j], expected)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_flat_usage_is_sized_exactly():
    model = fed(TidalStrategy(), steady("cpu", 2.0, days=2, step=300.0))
    assert targets(TidalStrategy(), model)["cpu"] == pytest.approx(2.0)
    assert targets(VpaStrategy(), model)["cpu"] > 2.2  # p90 bucket end + 15%


def test_tidal_follows_a_level_shift_within_hours():
    before = steady("cpu", 1.0, days=3, step=300.0)
    after = steady("cpu", 4.0, days=2 / 24, step=300.0, start=T0 + 3 * DAY)
    tidal = TidalStrategy()
    model = fed(tidal, before, after)
    assert targets(tidal, model)["cpu"] >= 4.0
    assert targets(VpaStrategy(), model)["cpu"] < 2.0  # the 24 h half-life still lags


def test_tidal_sizes_the_morning_rise_from_yesterday():
    times = np.arange(T0, T0 + 3 * DAY + 9 * HOUR, 300.0)  # up to 09:00 on day 4
    busy = ((times % DAY) >= 9 * HOUR) & ((times % DAY) < 17 * HOUR)
    n = len(times)
    samples = Samples.from_columns(times, ["shop"] * n, ["Deployment/web"] * n, ["web-1"] * n,
                                   ["app"] * n, ["cpu"] * n, np.where(busy, 3.0, 0.5))
    # When idle cores are cheap, being caught by the rise every morning costs more than the
    # hours spent ready for it: yesterday's 09:00 peak sizes today's 09:00.
    tidal = TidalStrategy(idle_cost={"cpu": 0.1})
    assert targets(tidal, fed(tidal, samples))["cpu"] == pytest.approx(3.0)
    recent_only = TidalStrategy(idle_cost={"cpu": 0.1}, tide_windows_h=())
    assert targets(recent_only, fed(recent_only, samples))["cpu"] == pytest.approx(0.5)


def test_tidal_without_prepare_gives_vpa_numbers_then_observes():
    model = UsageModel()
    model.ingest(steady("cpu", 2.0, days=1, step=300.0))
    tidal = TidalStrategy()
    # its base's numbers: upstream's estimators in plain floats
    assert targets(tidal, model)["cpu"] == targets(VpaStrategy(upstream=False), model)["cpu"]
    assert HourlyPeaks.of(model) is not None  # collecting from now on


def test_tidal_bounds_contain_the_target():
    model = fed(TidalStrategy(), steady("cpu", 2.0, days=2, step=300.0),
                steady("memory", 300 * MI, days=2, step=300.0))
    rows = model.rows_with_history()
    for bounds in TidalStrategy().estimate(model, rows, np.ones(len(rows))).values():
        assert (bounds.lower <= bounds.target).all() and (bounds.target <= bounds.upper).all()


def test_under_provisioning_cap_keeps_a_container_from_starving():
    rng = np.random.default_rng(5)
    times = np.arange(T0, T0 + 3 * DAY, 300.0)
    n = len(times)
    values = 8.0 * rng.uniform(0.2, 1.0, n) ** 4  # big and spiky: idle cores are expensive
    samples = Samples.from_columns(times, ["ns"] * n, ["Deployment/big"] * n, ["b-1"] * n,
                                   ["c"] * n, ["cpu"] * n, values)
    cheap = TidalStrategy(idle_cost={"cpu": 100.0}, max_under_rate=1.0)
    capped = TidalStrategy(idle_cost={"cpu": 100.0}, max_under_rate=0.05)
    model = fed(cheap, samples)
    assert targets(capped, model)["cpu"] > targets(cheap, model)["cpu"]


def test_percentile_strategy_p95_and_max_over_fourteen_days():
    strategy = PercentileStrategy()
    old_spike = steady("memory", 4000 * MI, days=1, step=300.0)  # > 14 days before the end
    cpu = Samples.concat([
        steady("cpu", float(v), days=0.25, step=300.0, start=T0 + 5 * DAY + v * 0.25 * DAY)
        for v in range(1, 31)
    ])
    memory = steady("memory", 1000 * MI, days=14, step=3600.0, start=T0 + 5 * DAY)
    model = fed(strategy, old_spike, cpu, memory)
    assert DailyHistograms.of(model) is not None
    result = targets(strategy, model)
    assert result["memory"] == pytest.approx(1000 * MI * 1.15)  # the 4000 Mi day is gone
    # Values 1..30 equally often: p95 is 29 (the end of 29's 5% bucket).
    assert 29.0 <= result["cpu"] <= 29.0 * 1.05 + 0.01


def test_tidal_chooses_once_per_hour_and_again_when_an_hour_completes(monkeypatch):
    strategy = TidalStrategy()
    model = fed(strategy, steady("cpu", 1.0, days=1, step=300.0),
                steady("memory", 300 * MI, days=1, step=300.0))
    calls = []
    original = TidalStrategy.choose
    monkeypatch.setattr(TidalStrategy, "choose",
                        lambda self, *a: calls.append(1) or original(self, *a))
    first = targets(strategy, model)
    assert len(calls) == 1
    assert targets(strategy, model) == first  # same hour: the choice is reused
    assert len(calls) == 1
    model.ingest(steady("cpu", 1.0, days=1 / 24, step=300.0, start=T0 + DAY))
    targets(strategy, model)  # a new hour: chosen again
    assert len(calls) == 2


def test_tidal_refreshes_at_most_its_budget_of_earlier_choices(monkeypatch):
    strategy = TidalStrategy(refresh_budget=1)
    parts = [steady("cpu", 1.0 + i, days=1, step=300.0, container=f"c{i}") for i in range(3)]
    model = fed(strategy, *parts)
    chosen = []
    original = TidalStrategy.choose

    def counting(self, peaks, resource, rows, held=False):
        chosen.append(len(rows))
        return original(self, peaks, resource, rows, held)

    monkeypatch.setattr(TidalStrategy, "choose", counting)
    targets(strategy, model)
    assert chosen == [3]  # first choices are never held back
    model.ingest(Samples.concat(
        [steady("cpu", 1.0, days=1 / 24, step=300.0, start=T0 + DAY, container=f"c{i}")
         for i in range(3)]
    ))
    targets(strategy, model)
    assert chosen == [3, 1]  # then one refresh per call, oldest first
    targets(strategy, model)
    assert chosen == [3, 1, 1]


def tide(days: float, busy: float = 3.0, quiet: float = 0.5) -> Samples:
    """A container at ``busy`` cores 09:00-17:00 UTC and ``quiet`` otherwise, 5-minute samples."""
    times = np.arange(T0, T0 + days * DAY, 300.0)
    hour = (times % DAY) / HOUR
    n = len(times)
    return Samples.from_columns(times, ["shop"] * n, ["Deployment/web"] * n, ["web-1"] * n,
                                ["app"] * n, ["cpu"] * n,
                                np.where((hour >= 9) & (hour < 17), busy, quiet))


def horizon_targets(samples: Samples, until: float) -> tuple[float, float]:
    """(held, next-hours) CPU targets of a model fed the samples before ``until``."""
    tidal = TidalStrategy()
    model = fed(tidal, samples.select(samples.timestamp < until))
    rows = model.rows_with_history()
    held = tidal.estimate(model, rows, np.ones(1))["cpu"].target[0]
    hourly = tidal.estimate(model, rows, np.ones(1), np.ones(1, bool))["cpu"].target[0]
    return float(held), float(hourly)


def test_held_targets_cover_the_day_and_do_not_change_with_the_hour():
    samples = tide(5.0)
    by_hour = {h: horizon_targets(samples, T0 + 4 * DAY + h * HOUR) for h in (2, 8, 13, 20)}
    held = {h: v[0] for h, v in by_hour.items()}
    assert len(set(held.values())) == 1  # the same at any hour of the day
    assert held[2] >= 3.0  # a pod created at night still meets the afternoon
    # The coming hours follow the tide: quiet at night, the busy level by day.
    assert by_hour[2][1] < 1.0 and by_hour[13][1] >= 3.0
    assert by_hour[20][1] < held[20]


def test_held_targets_move_once_a_day_with_the_history():
    quiet = tide(3.0)
    louder = tide(2.0, busy=6.0)
    samples = Samples.concat([quiet, Samples(
        louder.timestamp + 3 * DAY, louder.namespace, louder.workload, louder.pod,
        louder.container, louder.resource, louder.value)])
    before = horizon_targets(samples, T0 + 3 * DAY + 16 * HOUR)  # the rise seen at 09:00
    after = horizon_targets(samples, T0 + 4 * DAY + 1 * HOUR)  # the day it happened is whole
    assert before[1] >= 6.0  # in place: at once
    assert before[0] < 6.0 <= after[0]  # held: from the next day on


def test_held_choices_are_made_once_a_day(monkeypatch):
    tidal = TidalStrategy()
    samples = tide(4.0)
    model = fed(tidal, samples.select(samples.timestamp < T0 + 3 * DAY + 2 * HOUR))
    peaks = HourlyPeaks.of(model)
    rows = model.rows_with_history()
    first = tidal.targets(peaks, "cpu", rows, held=True)
    model.ingest(samples.select((samples.timestamp >= T0 + 3 * DAY + 2 * HOUR)
                                & (samples.timestamp < T0 + 3 * DAY + 12 * HOUR)))
    calls = []
    original = TidalStrategy.choose

    def counting(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TidalStrategy, "choose", counting)
    assert tidal.targets(peaks, "cpu", rows, held=True) == pytest.approx(first)
    assert not calls  # still the same UTC day: the earlier choice stands
    tidal.targets(peaks, "cpu", rows)
    assert len(calls) == 1  # next-hours choices are refreshed every hour
