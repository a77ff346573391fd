"""AEP-8026's per-VPA recommender fields change the numbers as upstream's do.

``oomBumpUpRatio``/``oomMinBumpUp`` set the memory an OOM kill stands for, and
``memoryAggregationIntervalSeconds``/``Count`` the memory peak windows and how long an idle
aggregate keeps its history; each only for its VPA's workload, by container policy (the exact
name first, else ``*``). tests/recommender/test_upstream_vpa.py checks the same against
upstream's own code ("pervpa" case).
"""

from __future__ import annotations

import numpy as np

from recommender.history import Samples
from recommender.logic.recommend import configure_model, memory_overrides, recommend
from recommender.logic.strategies import VpaStrategy, prepare_model
from recommender.model.state import ContainerKey, MemoryOverrides, UsageModel
from recommender.model.windows import HourlyPeaks
from recommender.vpa import Vpa, parse_vpa
from tests.recommender.builders import DAY, MI, T0, samples, steady, vpa

APP = ContainerKey("shop", "Deployment/web", "app")


def _model(vpas: list[Vpa], *parts: Samples) -> UsageModel:
    model = prepare_model(configure_model(UsageModel(), vpas), VpaStrategy())
    model.ingest(Samples.concat(parts).sorted_by_time())
    return model


def _memory(model: UsageModel, vpas: list[Vpa]) -> dict[str, float]:
    (rec,) = recommend(model, VpaStrategy(), vpas)
    return {"target": rec.target["memory"], "lower": rec.lower_bound["memory"],
            "upper": rec.upper_bound["memory"]}  # fmt: skip


def _oom_history() -> Samples:
    """A day at 1 GiB, then an OOM kill at 1 GiB that opens the next window."""
    return Samples.concat([
        steady("cpu", 0.5, 1.0), steady("memory", 1024 * MI, 1.0),
        samples([(T0 + DAY + 60, "oom", 1024 * MI)]),
    ])  # fmt: skip


def test_oom_bump_ratio_and_minimum_set_what_an_oom_kill_stands_for() -> None:
    default = _memory(_model([], _oom_history()), [])
    ratio = [parse_vpa(vpa(policies=[{"containerName": "*", "oomBumpUpRatio": "2"}]))]
    doubled = _memory(_model(ratio, _oom_history()), ratio)
    # 1 GiB x 1.2 (default) vs 1 GiB x 2: the bumped peak, the heavier (later) of the two.
    assert default["target"] == 1_555_165_137
    assert doubled["target"] == 2_539_377_048
    neutral = [parse_vpa(vpa(policies=[{"containerName": "*", "oomBumpUpRatio": 1,
                                        "oomMinBumpUp": 0}]))]  # fmt: skip
    assert _memory(_model(neutral, _oom_history()), neutral)["target"] < default["target"]


def test_oom_min_bump_sizes_a_small_container() -> None:
    model = UsageModel()
    model.configure({("shop", "Deployment/web"): {
        "*": MemoryOverrides(oom_bump_ratio=1.0, oom_min_bump_bytes=5 * MI)}})  # fmt: skip
    row = model.row(APP)
    other = model.row(ContainerKey("shop", "Deployment/other", "app"))
    used = np.array([50.0 * MI, 50.0 * MI])
    bumped = model.oom_bump(np.array([row, other]), used)
    assert bumped.tolist() == [55 * MI, 150 * MI]  # max(50 + 100 Mi, 50 x 1.2) elsewhere


def test_an_exact_container_policy_shields_its_container_from_the_wildcard() -> None:
    v = parse_vpa(vpa(policies=[
        {"containerName": "*", "oomBumpUpRatio": "3"},
        {"containerName": "proxy", "maxAllowed": {"cpu": "1"}},
    ]))  # fmt: skip
    model = configure_model(UsageModel(), [v])
    app, proxy = model.row(APP), model.row(APP._replace(container="proxy"))
    assert model.oom_ratio[[app, proxy]].tolist() == [3.0, 1.2]
    # VPAs without the fields are left out of the table.
    assert memory_overrides([parse_vpa(vpa(name="plain", workload=("Deployment", "x")))]) == {}


def test_a_vpa_created_later_or_changed_applies_and_reverts() -> None:
    model = UsageModel()
    row = model.row(APP)
    assert model.oom_ratio[row] == 1.2 and model.window_s[row] == DAY
    model.configure({("shop", "Deployment/web"): {"app": MemoryOverrides(interval_s=3600.0)}})
    assert model.window_s[row] == 3600.0
    model.configure({})  # the field removed from the VPA: the global setting again
    assert model.window_s[row] == DAY


def test_memory_aggregation_interval_makes_one_peak_per_interval() -> None:
    """A day rising from 100 Mi to 1 Gi: one 24 h window keeps only the top; one-hour windows
    keep 24 peaks, so the lower bound (p50) falls."""
    times = T0 + np.arange(0, DAY, 60.0)
    rising = Samples.from_columns(
        times, ["shop"] * len(times), ["Deployment/web"] * len(times), ["web-1"] * len(times),
        ["app"] * len(times), ["memory"] * len(times), np.linspace(100 * MI, 1024 * MI,
                                                                   len(times)),
    )  # fmt: skip
    parts = (steady("cpu", 0.5, 1.0), rising)
    hourly = [parse_vpa(vpa(policies=[{"containerName": "app",
                                       "memoryAggregationIntervalSeconds": 3600}]))]
    default, short = _memory(_model([], *parts), []), _memory(_model(hourly, *parts), hourly)
    assert default["lower"] == 1_236_184_450 and short["lower"] == 864_206_057
    assert short["target"] == default["target"]  # the top hour is still the p90


def test_memory_aggregation_count_bounds_how_long_an_idle_aggregate_is_remembered() -> None:
    window = [parse_vpa(vpa(policies=[{"containerName": "*",
                                       "memoryAggregationIntervalSeconds": 3600,
                                       "memoryAggregationIntervalCount": 6}]))]  # fmt: skip
    parts = (steady("cpu", 0.5, 1.0), steady("memory", 512 * MI, 1.0),
             steady("cpu", 0.5, 1.0, container="side"))  # fmt: skip
    model = _model([], *parts)
    configure_model(model, window)
    end = T0 + DAY
    assert model.expire(end + 5 * 3600) == 0
    assert model.expire(end + 6 * 3600) == 2  # 1 h x 6 without a sample: forgotten
    assert len(recommend(model, VpaStrategy(), window)) == 0
    other = _model([], *parts)  # the default: 24 h x 8
    assert other.expire(end + 7 * DAY) == 0 and other.expire(end + 8 * DAY) == 2


def test_the_tidal_strategys_hourly_peaks_use_the_row_bump() -> None:
    model = configure_model(UsageModel(), [parse_vpa(vpa(policies=[
        {"containerName": "*", "oomBumpUpRatio": "2", "oomMinBumpUp": 0}]))])  # fmt: skip
    peaks = HourlyPeaks(hours=24).attach(model)
    model.ingest(samples([(T0, "memory", 100 * MI), (T0 + 60, "oom", 100 * MI)]))
    peak, _ = peaks.series("memory", np.array([model.row(APP)]))
    assert np.nanmax(peak) == 200 * MI
