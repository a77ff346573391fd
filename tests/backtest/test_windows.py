"""Hourly peaks and daily histograms kept beside the model."""

from __future__ import annotations

import numpy as np

from recommender.model.state import OOM_BUMP_RATIO, UsageModel
from recommender.model.windows import HourlyPeaks
from tests.recommender.builders import MI, T0, samples

HOUR = 3600.0


def test_hourly_peaks_mean_and_ring():
    model = UsageModel()
    peaks = HourlyPeaks(hours=3).attach(model)
    assert HourlyPeaks.of(model) is peaks
    model.ingest(samples([(T0, "cpu", 1.0), (T0 + 60, "cpu", 3.0), (T0 + HOUR, "cpu", 2.0)]))
    hourly, mean = peaks.series("cpu", np.array([0]))
    np.testing.assert_array_equal(hourly[0], [np.nan, 3.0, 2.0])
    np.testing.assert_array_equal(mean[0], [np.nan, 2.0, 2.0])
    model.ingest(samples([(T0 + 3 * HOUR, "cpu", 5.0)]))  # the ring moves on three hours
    hourly, _ = peaks.series("cpu", np.array([0]))
    np.testing.assert_array_equal(hourly[0], [2.0, np.nan, 5.0])
    model.ingest(samples([(T0, "cpu", 9.0)]))  # older than the ring: ignored
    np.testing.assert_array_equal(peaks.series("cpu", np.array([0]))[0][0], [2.0, np.nan, 5.0])


def test_oom_counts_as_the_bumped_peak():
    model = UsageModel()
    peaks = HourlyPeaks(hours=2).attach(model)
    model.ingest(samples([(T0, "memory", 1000 * MI), (T0 + 60, "oom", 1000 * MI)]))
    hourly, _ = peaks.series("memory", np.array([0]))
    assert hourly[0, -1] == 1000 * MI * OOM_BUMP_RATIO


def test_rows_never_observed_are_empty():
    model = UsageModel()
    peaks = HourlyPeaks(hours=2, resources=("cpu",)).attach(model)
    model.ingest(samples([(T0, "cpu", 1.0)]))
    hourly, mean = peaks.series("cpu", np.array([0, 5]))
    assert np.isnan(hourly[1]).all() and np.isnan(mean[1]).all()
