import math

import numpy as np
import pytest

from recommender.history import CPU, MEMORY, Samples
from recommender.logic.estimators import confidence, confidence_multiplier
from recommender.logic.recommend import recommend
from recommender.logic.strategies import STRATEGIES, VpaStrategy
from recommender.model.buckets import CPU_BUCKETS, MEMORY_BUCKETS
from recommender.vpa import parse_vpa
from tests.recommender.builders import MI, model_of, samples, steady, vpa


def test_confidence_is_min_of_days_and_samples_per_day():
    assert confidence(np.array([7.0]), np.array([1440.0]))[0] == 1.0
    assert confidence(np.array([1.0]), np.array([10000.0]))[0] == 1.0
    assert confidence(np.array([0.5]), np.array([720.0]))[0] == 0.5


def test_confidence_multipliers():
    v = np.array([1.0, 1.0, 1.0])
    conf = np.array([1.0, 7.0, 0.0])
    upper = confidence_multiplier(v, conf, 1.0, 1.0, 1e14)
    assert upper.tolist() == pytest.approx([2.0, 1 + 1 / 7, 1e14])
    lower = confidence_multiplier(v, conf, 0.001, -2.0, 1e14)
    assert lower.tolist() == pytest.approx([1.001**-2, (1 + 0.001 / 7) ** -2, 0.0])


def test_vpa_strategy_matches_upstream_math_for_one_day():
    # one day of constant 0.5 cores and 300Mi, one sample a minute: confidence exactly ~1 day
    model = model_of(steady(CPU, 0.5, 1), steady(MEMORY, 300 * MI, 1))
    (rec,) = recommend(model, STRATEGIES.create("vpa"))
    # upstream's arithmetic: whole millicores (bytes) after the percentile and the margin
    millis = math.trunc(CPU_BUCKETS.ends[CPU_BUCKETS.bucket_of(0.5)] * 1000)
    millis += math.trunc(millis * 0.15)
    assert rec.target["cpu"] * 1000 == pytest.approx(millis)
    assert rec.lower_bound["cpu"] * 1000 == pytest.approx(millis * 1.001**-2, abs=1)
    conf = (1439 * 60 / 86400)  # span of 1440 minute samples
    assert rec.upper_bound["cpu"] * 1000 == math.trunc(millis * (1 + 1 / conf))
    mem = math.trunc(MEMORY_BUCKETS.ends[MEMORY_BUCKETS.bucket_of(300 * MI)])
    assert rec.target["memory"] == mem + math.trunc(mem * 0.15)
    assert rec.uncapped_target == rec.target
    assert rec.evidence["samples"] == 1440


def test_floors_are_split_across_the_pods_containers():
    tiny = [steady(CPU, 0.001, 1, container=c) for c in ("a", "b")]
    tiny += [steady(MEMORY, 1 * MI, 1, container=c) for c in ("a", "b")]
    recs = recommend(model_of(*tiny), VpaStrategy())
    assert {r.container for r in recs} == {"a", "b"}
    for rec in recs:
        assert rec.target["cpu"] == pytest.approx(0.012)  # upstream truncates 12.5m
        assert rec.target["memory"] == pytest.approx(125 * MI)
        assert rec.lower_bound["memory"] == pytest.approx(125 * MI)
    # a container in mode Off gets nothing, and the other takes the whole pod floor
    policy = parse_vpa(vpa(policies=[{"containerName": "b", "mode": "Off"}]))
    (rec,) = recommend(model_of(*tiny), VpaStrategy(), [policy])
    assert rec.container == "a"
    assert rec.target["cpu"] == pytest.approx(0.025)
    assert rec.target["memory"] == pytest.approx(250 * MI)


def test_no_history_bounds():
    model = model_of(samples([(1e9, "cpu", 1.0), (1e9, "memory", 500 * MI)]))
    (rec,) = recommend(model, VpaStrategy())
    assert rec.upper_bound["cpu"] == 1e11  # upstream's cap, "100G"
    assert rec.upper_bound["memory"] == 1e14  # "100T"
    assert rec.lower_bound["cpu"] == pytest.approx(0.025)  # floor


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(ValueError, match="valid strategies: .*vpa"):
        STRATEGIES.create("nope")


def test_hourly_history_counts_as_the_minutes_it_stands_for():
    # Eight days of hourly samples (a Prometheus bootstrap at 1 h resolution).
    hourly = [steady(CPU, 0.5, 8, step=3600.0), steady(MEMORY, 300 * MI, 8, step=3600.0)]
    upstream = model_of(*hourly)
    (wide,) = recommend(upstream, VpaStrategy())
    bootstrap = model_of()
    bootstrap.ingest(Samples.concat(hourly).sorted_by_time(), minutes_per_sample=60)
    (tight,) = recommend(bootstrap, VpaStrategy())
    assert tight.target == wide.target  # same distribution, only the evidence differs
    assert wide.evidence["confidenceDays"] == pytest.approx(192 / 1440, abs=1e-3)
    assert tight.evidence["confidenceDays"] == pytest.approx(191 / 24, abs=1e-3)
    assert tight.evidence["samples"] == 192 * 60
    # constant usage: p95 and p90 share a bucket, so upper = target x (1 + 1/confidence)
    # (in whole millicores, truncated)
    assert tight.upper_bound["cpu"] == pytest.approx(tight.target["cpu"] * (1 + 24 / 191),
                                                     abs=1e-3)
    assert wide.upper_bound["cpu"] == pytest.approx(wide.target["cpu"] * (1 + 1440 / 192),
                                                    abs=1e-3)
