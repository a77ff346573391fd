import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.quantity import (
    QuantityError,
    Rounding,
    format_bytes,
    format_cpu,
    format_quantity,
    human,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", 0.25), ("1.5", 1.5), ("2", 2.0), ("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30),
        ("1e9", 1e9), ("1E3", 1000.0), ("100k", 1e5), ("1G", 1e9), ("500u", 5e-4),
        (".5", 0.5), ("+1", 1.0), (3, 3.0), (0.1, 0.1),
    ],
)
def test_parse(text, value):
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "12Qi", "Mi", "1 Mi x", "nan", True])
def test_parse_rejects(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_canonical_formats():
    assert format_cpu(0.25) == "250m"
    assert format_cpu(2.0) == "2"
    assert format_cpu(1.5) == "1500m"
    assert format_cpu(0.2501) == "251m"  # rounded UP to whole millicores
    assert format_bytes(512 * 2**20) == "512Mi"
    assert format_bytes(1e9) == "1G"
    assert format_bytes(1234567.2) == "1234568"  # rounded up to whole bytes
    assert format_quantity("memory", 200 * 2**20 + 1, Rounding(memory_bytes=2**20)) == "201Mi"
    assert format_quantity("cpu", 0.101, Rounding(cpu_millicores=10)) == "110m"
    assert format_quantity("nvidia.com/gpu", 1.0) == "1"


def test_human():
    assert human("cpu", 0.25) == "250m"
    assert human("cpu", 1.5) == "1.5"
    assert human("memory", 1.5 * 2**30) == "1.5Gi"
    assert human("memory", 512 * 2**20) == "512Mi"
    assert human("memory", None) == "?"


@given(st.integers(min_value=1, max_value=10**7))
def test_cpu_round_trip(millis):
    assert parse_quantity(format_cpu(millis / 1000)) == pytest.approx(millis / 1000)


@given(st.integers(min_value=0, max_value=2**50))
def test_bytes_round_trip(number):
    assert parse_quantity(format_bytes(number)) == number


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_rounding_never_goes_down(cores):
    rounded = Rounding(cpu_millicores=5).apply("cpu", cores)
    assert rounded >= cores - 1e-9
    assert rounded - cores < 0.005 + 1e-9
    assert math.isclose(rounded * 1000 % 5, 0, abs_tol=1e-6) or math.isclose(
        rounded * 1000 % 5, 5, abs_tol=1e-6
    )


def test_cpu_text_is_the_same_for_a_value_and_its_rounded_quantity() -> None:
    """recommend printed 1.2 where report (rounded to millicores first) printed 1.21."""
    from recommender.quantity import human

    assert human("cpu", 1.2049) == human("cpu", 1.205) == "1.21"
    assert human("cpu", 1.2) == "1.2" and human("cpu", 0.9999) == "1" and human("cpu", 2) == "2"
    assert human("cpu", 0.25) == "250m" and human("cpu", 12.345) == "12.35"
