"""Checkpoint conversion (upstream v3 format) and a round trip through a fresh model."""

from __future__ import annotations

import json

import numpy as np

from recommender.checkpoint import (
    MAX_CHECKPOINT_WEIGHT,
    checkpoint_status,
    format_time,
    load_status,
    parse_time,
    save_histogram,
)
from recommender.history import CPU, MEMORY
from recommender.logic.recommend import recommend
from recommender.logic.strategies import VpaStrategy
from recommender.model.state import ContainerKey, UsageModel
from recommender.quantity import Rounding
from tests.recommender.builders import DAY, MI, T0, model_of, steady

KEY = ContainerKey("shop", "Deployment/web", "app")


def _varied(days: float = 3.0) -> UsageModel:
    rng = np.random.default_rng(7)
    cpu = steady(CPU, 0.0, days)
    cpu = type(cpu)(*(getattr(cpu, f) for f in
                      ("timestamp", "namespace", "workload", "pod", "container", "resource")),
                    rng.gamma(2.0, 0.2, len(cpu)))
    memory = steady(MEMORY, 0.0, days, step=300.0)
    memory = type(memory)(*(getattr(memory, f) for f in
                            ("timestamp", "namespace", "workload", "pod", "container",
                             "resource")), 200 * MI + rng.normal(0, 30 * MI, len(memory)))
    return model_of(cpu, memory)


def test_histogram_format_scales_largest_to_10000_and_drops_zeros():
    model = _varied()
    data = save_histogram(model.histograms[CPU], model.find(KEY))
    weights = data["bucketWeights"]
    assert max(weights.values()) == MAX_CHECKPOINT_WEIGHT
    assert all(isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in weights.items())
    assert data["totalWeight"] > 0
    assert parse_time(data["referenceTimestamp"]) == model.histograms[CPU].reference


def test_status_has_upstream_fields_and_is_json():
    model = _varied()
    status = checkpoint_status(model, model.find(KEY), now=T0 + 3 * DAY)
    assert status["version"] == "v3"
    assert set(status) == {
        "lastUpdateTime", "version", "cpuHistogram", "memoryHistogram",
        "firstSampleStart", "lastSampleStart", "totalSamplesCount",
    }
    assert status["totalSamplesCount"] == int(3 * DAY / 60)
    assert status["firstSampleStart"] == format_time(T0)
    json.dumps(status)


def test_round_trip_keeps_the_recommendation_within_rounding():
    model = _varied()
    status = json.loads(json.dumps(checkpoint_status(model, model.find(KEY), T0 + 3 * DAY)))
    fresh = UsageModel()
    assert load_status(fresh, fresh.row(KEY), status)
    rounding = Rounding(1, 1)
    before = recommend(model, VpaStrategy())[0]
    after = recommend(fresh, VpaStrategy())[0]
    for name, values in before.maps().items():
        for resource, value in values.items():
            # Bucket weights are rounded to 1/10000 of the largest: at most a bucket apart.
            assert abs(after.maps()[name][resource] - value) <= 0.051 * value, (name, resource)
    assert before.to_status(rounding)["target"] == after.to_status(rounding)["target"]
    assert fresh.sample_count[0] == model.sample_count[model.find(KEY)]


def test_loading_into_a_model_with_a_later_reference_decays_the_weights():
    model = _varied(1.0)
    status = checkpoint_status(model, model.find(KEY), T0 + DAY)
    fresh = UsageModel()
    fresh.histograms[CPU].reference = model.histograms[CPU].reference + 2 * DAY
    fresh.histograms[MEMORY].reference = model.histograms[MEMORY].reference + 2 * DAY
    load_status(fresh, fresh.row(KEY), status)
    ratio = fresh.histograms[CPU].total[0] / model.histograms[CPU].total[model.find(KEY)]
    assert abs(ratio - 0.25) < 1e-9


def test_wrong_version_or_empty_checkpoint_is_ignored():
    model = _varied(1.0)
    status = checkpoint_status(model, model.find(KEY), T0 + DAY)
    fresh = UsageModel()
    assert not load_status(fresh, fresh.row(KEY), {**status, "version": "v2"})
    empty = {"version": "v3", "cpuHistogram": {"bucketWeights": {}, "totalWeight": 0}}
    assert not load_status(fresh, fresh.row(KEY), empty)
    assert fresh.any_count[0] == 0


def test_a_checkpoint_written_by_upstream_loads():
    """The shape the upstream recommender writes (sparse int weights, string indexes, a
    reference at midnight, RFC 3339 times); the memory p90 lands in the bucket the weights
    say."""
    from recommender.model.buckets import MEMORY_BUCKETS

    weights = {"3": 40, "37": 2, "38": 60, "39": 700, "40": 3800, "41": 10000, "42": 5400,
               "43": 2900, "44": 400, "45": 30}
    status = {
        "firstSampleStart": "2026-11-20T04:46:22Z",
        "lastSampleStart": "2026-11-27T15:11:24Z",
        "lastUpdateTime": "2026-11-27T15:11:47Z",
        "memoryHistogram": {"bucketWeights": weights,
                            "referenceTimestamp": "2026-11-28T00:00:00Z",
                            "totalWeight": 6.5},
        "cpuHistogram": {"bucketWeights": {"10": 10000, "12": 2500},
                         "referenceTimestamp": "2026-11-28T00:00:00Z", "totalWeight": 120.0},
        "totalSamplesCount": 650000,
        "version": "v3",
    }
    model = UsageModel()
    assert load_status(model, model.row(KEY), status)
    memory = model.histograms[MEMORY]
    assert abs(memory.total[0] - 6.5) < 1e-9
    assert abs(memory.weights[0].sum() - 6.5) < 1e-9
    ordered = sorted((int(k), v) for k, v in weights.items())
    cumulative, target = 0, 0.9 * sum(weights.values())
    expected = next(i for i, w in ordered if (cumulative := cumulative + w) >= target)
    assert memory.percentile(0.9)[0] == MEMORY_BUCKETS.ends[expected]
    assert model.sample_count[0] == 650000
    # Saved again, it is the same histogram.
    again = save_histogram(memory, 0)["bucketWeights"]
    assert again == weights
