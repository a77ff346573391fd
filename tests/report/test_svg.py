"""Chart axes: one unit per axis, named, and the limit drawn beside request and target."""

from __future__ import annotations

from recommender.report.formats import svg
from recommender.report.usage import Bucket


def test_one_unit_per_axis():
    assert svg.axis_unit("cpu", 0.9) == ("millicores", 1e-3)
    assert svg.axis_unit("cpu", 12.0) == ("cores", 1.0)
    assert svg.axis_unit("memory", 800 * 2**20) == ("MiB", 2**20)
    assert svg.axis_unit("memory", 12 * 2**30) == ("GiB", 2**30)
    assert svg.nice_ticks(0.7, 13) == [1, 2, 5, 10]
    assert len(svg.nice_ticks(0.001, 1000)) <= 5


def test_distribution_chart_names_its_unit_and_draws_the_limit():
    buckets = [Bucket(0.1 * i, 0.1 * (i + 1), 0.1) for i in range(1, 10)]
    chart = svg.distribution_chart(buckets, 1.0, 0.8, str, "cpu", limit=2.0,
                                   unit=svg.axis_unit("cpu", 2.6))
    assert 'class="limit"' in chart and "limit: 2.0" in chart
    assert "cores (log scale)" in chart
    for tick in (">0.2<", ">0.5<", ">1<", ">2<"):
        assert tick in chart  # cores throughout: never "500m" beside "1"
    small = svg.distribution_chart(buckets, 0.5, 0.4, str, "cpu",
                                   unit=svg.axis_unit("cpu", 1.3))
    assert "millicores (log scale)" in small and ">500<" in small
    assert 'class="limit"' not in svg.distribution_chart(buckets, 1.0, 0.8, str, "cpu")
