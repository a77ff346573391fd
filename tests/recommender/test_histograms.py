import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.model.buckets import CPU_BUCKETS, MEMORY_BUCKETS
from recommender.model.histograms import EPSILON, DecayingHistograms

DAY = 86400.0


def reference_percentile(values, weights, p, scheme=CPU_BUCKETS):
    """Upstream's algorithm, one histogram, pure Python."""
    buckets = [0.0] * scheme.count
    for v, w in zip(values, weights, strict=True):
        # bucket n holds [start(n), start(n + 1)); the last is open-ended
        n = max(i for i in range(scheme.count) if scheme.starts[i] <= v)
        buckets[n] += w
    total = sum(buckets)
    significant = [i for i, w in enumerate(buckets) if w >= EPSILON]
    if not significant:
        return 0.0
    lo, hi = significant[0], significant[-1]
    partial, bucket = 0.0, lo
    while bucket < hi:
        partial += buckets[bucket]
        if partial >= p * total:
            break
        bucket += 1
    start = lambda n: scheme.first * (scheme.ratio**n - 1) / (scheme.ratio - 1)  # noqa: E731
    return start(bucket + 1) if bucket < scheme.count - 1 else start(bucket)


def test_bucket_scheme_matches_upstream():
    assert CPU_BUCKETS.count == 176
    assert MEMORY_BUCKETS.count == 176
    assert CPU_BUCKETS.starts[0] == 0.0
    assert CPU_BUCKETS.starts[1] == pytest.approx(0.01)
    assert CPU_BUCKETS.starts[2] == pytest.approx(0.01 + 0.0105)
    values = np.array([0.0, 0.005, 0.01, 0.0205, 1.0, 999.0, 5000.0])
    assert CPU_BUCKETS.bucket(values).tolist() == [0, 0, 1, 2, 36, 174, 175]
    edges = CPU_BUCKETS.starts[1:]
    assert (CPU_BUCKETS.bucket(edges) == np.arange(1, 176)).all()
    assert (CPU_BUCKETS.bucket(np.nextafter(edges, 0)) == np.arange(0, 175)).all()
    assert CPU_BUCKETS.bucket(np.array([1e9]))[0] == 175


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=2000, allow_nan=False), min_size=1, max_size=60),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_percentile_equals_bucket_end_reference(values, p):
    hist = DecayingHistograms(CPU_BUCKETS, rows=1)
    t = np.full(len(values), 1000 * DAY)
    # Weight 0.125 sums exactly in any order, so ties at p * total are decided the same way.
    hist.add(np.zeros(len(values), dtype=np.intp), np.array(values), t, 0.125)
    expected = reference_percentile(values, [0.125] * len(values), p)
    assert hist.percentile(p)[0] == pytest.approx(expected, rel=1e-12)


def test_many_rows_match_reference_on_random_data():
    rng = np.random.default_rng(7)
    n_rows, n = 50, 4000
    rows = rng.integers(0, n_rows, n)
    values = rng.lognormal(-1, 1.5, n)
    times = rng.uniform(0, 5 * DAY, n)
    hist = DecayingHistograms(CPU_BUCKETS, rows=n_rows)
    hist.add(rows, values, times, 0.1)
    got = hist.percentiles([0.5, 0.9, 0.95])
    ref_time = hist.reference
    for r in range(n_rows):
        mine = rows == r
        weights = 0.1 * np.exp2((times[mine] - ref_time) / DAY)
        for k, p in enumerate([0.5, 0.9, 0.95]):
            assert got[k][r] == pytest.approx(
                reference_percentile(values[mine], weights, p), rel=1e-12
            )


def test_empty_is_zero_and_last_bucket_returns_its_start():
    hist = DecayingHistograms(CPU_BUCKETS, rows=2)
    hist.add(np.array([1]), np.array([5e6]), np.array([0.0]), 1.0)
    p = hist.percentile(0.9)
    assert p[0] == 0.0
    assert p[1] == pytest.approx(CPU_BUCKETS.starts[-1])


def test_decay_halves_weight_every_half_life():
    hist = DecayingHistograms(CPU_BUCKETS, rows=1)
    t0 = 100 * DAY
    hist.add(np.array([0]), np.array([1.0]), np.array([t0]), 1.0)
    hist.add(np.array([0]), np.array([10.0]), np.array([t0 + DAY]), 1.0)
    b1, b10 = CPU_BUCKETS.bucket_of(1.0), CPU_BUCKETS.bucket_of(10.0)
    assert hist.weights[0, b10] / hist.weights[0, b1] == pytest.approx(2.0)
    # The newer, heavier sample dominates the median: 2/3 of the weight is at 10 cores.
    assert hist.percentile(0.5)[0] == pytest.approx(CPU_BUCKETS.ends[b10])
    assert hist.percentile(0.3)[0] == pytest.approx(CPU_BUCKETS.ends[b1])


def test_renormalisation_keeps_percentiles_and_bounds_weights():
    hist = DecayingHistograms(CPU_BUCKETS, rows=1)
    hist.add(np.array([0]), np.array([1.0]), np.array([0.0]), 1.0)
    before = hist.percentile(0.5)[0]
    ref0 = hist.reference
    # 150 half-lives later: past the 100-half-life limit, the reference must move.
    late = 150 * DAY
    hist.add(np.array([0]), np.array([1.0]), np.array([late]), 1.0)
    assert hist.reference == pytest.approx(late)
    assert hist.reference % DAY == 0
    assert hist.reference != ref0
    assert hist.weights.max() < 2**101
    assert hist.percentile(0.5)[0] == before
    # The newest sample now weighs 1; the old one decayed by 2^-150.
    assert hist.total[0] == pytest.approx(1.0)


def test_subtract_removes_weight_and_never_goes_negative():
    hist = DecayingHistograms(MEMORY_BUCKETS, rows=1)
    t = np.array([0.0])
    hist.add(np.array([0]), np.array([5e8]), t)
    hist.subtract(np.array([0]), np.array([5e8]), t)
    hist.subtract(np.array([0]), np.array([5e8]), t)
    assert hist.weights.min() == 0.0
    assert hist.total[0] == 0.0
    assert hist.percentile(0.9)[0] == 0.0


def test_grow_keeps_existing_rows():
    hist = DecayingHistograms(CPU_BUCKETS, rows=1)
    hist.add(np.array([0]), np.array([2.0]), np.array([0.0]))
    hist.grow(1000)
    assert hist.rows >= 1000
    assert hist.percentile(1.0)[0] == pytest.approx(CPU_BUCKETS.ends[CPU_BUCKETS.bucket_of(2.0)])
    assert hist.percentile(1.0)[1] == 0.0


@given(st.floats(min_value=0.0, max_value=2000.0, allow_nan=False))
def test_bucket_agrees_with_upstream_formula_off_the_edges(v):
    n = CPU_BUCKETS.bucket_of(v)
    assert CPU_BUCKETS.starts[n] <= v
    assert n == CPU_BUCKETS.count - 1 or v < CPU_BUCKETS.starts[n + 1]
    formula = 0 if v < 0.01 else min(int(math.log(v * 0.05 / 0.01 + 1) / math.log(1.05)), 175)
    assert abs(n - formula) <= 1


def test_bucket_starts_are_gos_math_pow_to_the_last_bit() -> None:
    """Upstream's bucket 4 of memory starts at 43101249.999999963 (Go's Pow squares the
    mantissa); C's pow gives 43101250.00000001, and a percentile there truncated to whole
    bytes is then one byte off upstream's."""
    from recommender.model.buckets import MEMORY_BUCKETS, go_pow

    assert MEMORY_BUCKETS.starts[4] == 43101249.999999963
    assert int(MEMORY_BUCKETS.ends[3]) == 43101249
    assert go_pow(1.05, 0) == 1.0 and go_pow(1.05, 1) == 1.05
