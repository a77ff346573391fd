import numpy as np
import pytest

from recommender.history import MEMORY
from recommender.model.buckets import MEMORY_BUCKETS
from tests.recommender.builders import DAY, MI, T0, model_of, samples

ROW = 0


def peaks_in(model):
    """(bucket index -> weight) of the memory histogram, rescaled so a weight-1 sample at the
    reference time counts 1."""
    hist = model.histograms[MEMORY]
    return {int(b): float(w) for b, w in enumerate(hist.weights[ROW]) if w > 0}


def test_one_peak_per_window_at_the_window_end():
    model = model_of(samples([(T0, "memory", 100 * MI), (T0 + 3600, "memory", 300 * MI),
                              (T0 + 7200, "memory", 200 * MI)]))
    hist = model.histograms[MEMORY]
    buckets = peaks_in(model)
    assert list(buckets) == [MEMORY_BUCKETS.bucket_of(300 * MI)]
    # weight 1.0 decayed to the window END (first sample + 24 h)
    expected = 2 ** ((T0 + DAY - hist.reference) / DAY)
    assert hist.total[ROW] == pytest.approx(expected)


def test_higher_sample_replaces_peak_across_batches():
    model = model_of(samples([(T0, "memory", 100 * MI)]))
    model.ingest(samples([(T0 + 600, "memory", 50 * MI)]))  # lower: ignored
    assert list(peaks_in(model)) == [MEMORY_BUCKETS.bucket_of(100 * MI)]
    model.ingest(samples([(T0 + 1200, "memory", 400 * MI)]))  # higher: replaces
    assert list(peaks_in(model)) == [MEMORY_BUCKETS.bucket_of(400 * MI)]
    hist = model.histograms[MEMORY]
    assert hist.total[ROW] == pytest.approx(2 ** ((T0 + DAY - hist.reference) / DAY))


def test_windows_are_anchored_at_the_first_sample():
    start = T0 + 5 * 3600
    rows = [(start, "memory", 100 * MI), (start + DAY - 1, "memory", 150 * MI),
            (start + DAY, "memory", 120 * MI), (start + 2.5 * DAY, "memory", 90 * MI)]
    model = model_of(samples(rows))
    got = peaks_in(model)
    assert set(got) == {MEMORY_BUCKETS.bucket_of(v) for v in (150 * MI, 120 * MI, 90 * MI)}
    peaks = model.peaks[MEMORY]
    assert peaks.window_end[0] == start + 3 * DAY


def test_outdated_samples_are_dropped():
    model = model_of(samples([(T0 + 100, "memory", 100 * MI)]))
    stats = model.ingest(samples([(T0, "memory", 999 * MI)]))
    assert stats.dropped == 1
    assert list(peaks_in(model)) == [MEMORY_BUCKETS.bucket_of(100 * MI)]


def test_each_pod_container_has_its_own_peak():
    rows = [(T0, "shop", "Deployment/web", f"web-{i}", "app", "memory", (i + 1) * 100 * MI)
            for i in range(3)]
    model = model_of(samples(rows))
    assert len(model.keys) == 1
    assert len(peaks_in(model)) == 3


def test_oom_bump_uses_larger_of_ratio_and_minimum():
    # used = 1 GiB: x1.2 (1.2 GiB) beats +100 MiB
    model = model_of(samples([(T0, "memory", 200 * MI), (T0 + 60, "oom", 1024 * MI)]))
    assert max(peaks_in(model)) == MEMORY_BUCKETS.bucket_of(1.2 * 1024 * MI)
    assert model.oom_count[ROW] == 1
    # used = 300 MiB: +100 MiB (400) beats x1.2 (360)
    model = model_of(samples([(T0, "memory", 200 * MI), (T0 + 60, "oom", 300 * MI)]))
    assert max(peaks_in(model)) == MEMORY_BUCKETS.bucket_of(400 * MI)


def test_oom_uses_window_peak_when_higher_than_value_at_kill():
    model = model_of(samples([(T0, "memory", 800 * MI)]))
    model.ingest(samples([(T0 + 60, "oom", 100 * MI)]))
    assert max(peaks_in(model)) == MEMORY_BUCKETS.bucket_of(800 * MI * 1.2)


def test_oom_older_than_current_window_is_ignored():
    model = model_of(samples([(T0, "memory", 100 * MI), (T0 + 3 * DAY, "memory", 100 * MI)]))
    model.ingest(samples([(T0 + 60, "oom", 4096 * MI)]))
    assert max(peaks_in(model)) == MEMORY_BUCKETS.bucket_of(100 * MI)


def test_invalid_values_are_dropped():
    batch = samples([(T0, "cpu", float("nan")), (T0, "cpu", -1.0), (T0, "cpu", 0.5)])
    model = model_of()
    stats = model.ingest(batch)
    assert (stats.accepted, stats.dropped) == (1, 2)
    assert np.isclose(model.max_usage["cpu"][0], 0.5)


def test_gpu_histograms_are_allocated_only_when_gpu_samples_arrive():
    model = model_of(samples([(T0, "cpu", 0.5), (T0, "memory", 100 * MI)]))
    assert model.histograms["gpu"].rows == 0
    assert model.histograms["gpu_memory"].rows == 0
    model.ingest(samples([(T0 + 60, "gpu", 0.3), (T0 + 60, "gpu_memory", 5e9)]))
    assert model.histograms["gpu"].rows == model.histograms["cpu"].rows
    assert model.histograms["gpu"].total[ROW] > 0
    model.ingest(samples([(T0 + 120, "shop", "Deployment/new", "n-1", "c", "cpu", 1.0)]))
    assert model.histograms["gpu_memory"].rows == model.histograms["cpu"].rows


def test_idle_pod_containers_are_forgotten_without_changing_recommendations():
    from recommender.logic.recommend import recommend
    from recommender.logic.strategies import VpaStrategy

    runs = [  # a CronJob: a new pod every day, each running one hour
        (T0 + d * DAY + m * 60, "batch", "CronJob/etl", f"etl-{d}", "etl", r, v)
        for d in range(5) for m in range(60)
        for r, v in (("cpu", 1.0 + d / 10), ("memory", (500 + 50 * d) * MI))
    ]
    model = model_of(samples(runs))
    before = recommend(model, VpaStrategy())
    assert len(model._slots) == 5
    # Two days after the last run: every window has closed, nothing arrived since.
    assert model.forget_idle_slots(T0 + 6 * DAY) == 5
    assert len(model._slots) == 0
    assert recommend(model, VpaStrategy()) == before
    # A new run is a new slot with its own window, and the history is still there.
    model.ingest(samples([(T0 + 7 * DAY, "batch", "CronJob/etl", "etl-7", "etl", "memory",
                           900 * MI)]))
    assert len(model._slots) == 1
    assert model.histograms["memory"].total[0] > 1.0


def test_active_pod_containers_are_kept():
    model = model_of(samples([(T0, "memory", 100 * MI), (T0 + 2 * DAY, "memory", 120 * MI)]))
    other = samples([(T0, "shop", "Deployment/web", "web-2", "app", "memory", 80 * MI)])
    model.ingest(other)
    assert model.forget_idle_slots(T0 + DAY) == 1  # web-2 went quiet; web-1 is in a window
    assert list(model._slots) == [("shop", "Deployment/web", "web-1", "app")]
    model.ingest(samples([(T0 + 2 * DAY + 60, "memory", 500 * MI)]))  # replaces its peak
    assert max(peaks_in(model)) == MEMORY_BUCKETS.bucket_of(500 * MI)
