"""Prices, GPU equivalents and the 730-hour month."""

from __future__ import annotations

import pytest

from recommender.report.prices import (
    DEFAULT_GPU_HOUR,
    HOURS_PER_MONTH,
    gpu_equivalent,
    parse_prices,
)


def test_month_is_730_hours() -> None:
    prices = parse_prices("0.04", "0.005", ["2"])
    assert HOURS_PER_MONTH == 730
    assert prices.monthly("cpu", 2.0) == pytest.approx(2 * 0.04 * 730)
    assert prices.monthly("memory", 3 * 2**30) == pytest.approx(3 * 0.005 * 730)
    assert prices.monthly("gpu", 0.5) == pytest.approx(0.5 * 2 * 730)


def test_gpu_price_by_model_overrides_the_default() -> None:
    prices = parse_prices(None, None, ["h100-80gb=8.5", "h200=10", "1.5"])
    assert prices.gpu_hour("H100-80GB") == 8.5
    assert prices.gpu_hour("H200-141GB") == 10
    assert prices.gpu_hour("A100-80GB") == 1.5
    assert prices.gpu_hour(None) == 1.5
    assert not prices.defaults_used
    assert parse_prices(None, None, []).gpu == DEFAULT_GPU_HOUR
    with pytest.raises(ValueError, match="ambiguous GPU model 'h100'"):
        parse_prices(None, None, ["h100=8.5"])  # 80 or 94 GB: a price must say which


def test_gpu_equivalents() -> None:
    assert gpu_equivalent("nvidia.com/gpu", 4) == 4
    assert gpu_equivalent("nvidia.com/mig-2g.20gb", 1) == pytest.approx(2 / 7)
    assert gpu_equivalent("nvidia.com/mig-3g.71gb", 2) == pytest.approx(6 / 7)
    assert gpu_equivalent("nvidia.com/gpu.shared", 1) is None


def test_negative_prices_are_rejected() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        parse_prices("-1", None, [])
