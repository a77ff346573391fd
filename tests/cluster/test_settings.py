"""Flags to settings: durations, the client rate limiter, backoff."""

from __future__ import annotations

import time

import pytest

from recommender.cli import build_parser
from recommender.cluster.api import RateLimiter
from recommender.commands.run import settings_from
from recommender.duration import parse_duration
from recommender.input.backoff import Backoff


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("1m", 60), ("1h30m", 5400), ("8d", 691200), ("1w", 604800), ("2.5", 2.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8 days", "1x", "h1"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_run_flags_become_one_settings_object(monkeypatch):
    monkeypatch.setenv("POD_NAME", "tidal-recommender-0")
    args = build_parser().parse_args([
        "run", "--name", "default", "--interval", "30s", "--qps", "100", "--burst", "200",
        "--history-length", "2d", "--prometheus-url", "http://prom:9090",
    ])
    settings = settings_from(args)
    assert (settings.name, settings.interval_s, settings.qps, settings.burst) == (
        "default", 30.0, 100.0, 200)
    assert settings.history_length_s == 2 * 86400 and settings.identity == "tidal-recommender-0"
    assert settings.lease == "tidal-recommender-default"


def test_rate_limiter_allows_a_burst_then_the_rate():
    limiter = RateLimiter(qps=200, burst=5)
    started = time.monotonic()
    for _ in range(5):
        limiter.wait()
    assert time.monotonic() - started < 0.02
    for _ in range(10):
        limiter.wait()
    assert time.monotonic() - started >= 10 / 200 * 0.9


def test_backoff_doubles_up_to_the_cap():
    now = {"t": 0.0}
    backoff = Backoff(initial_s=60, max_s=600, clock=lambda: now["t"])
    assert [backoff.failed() for _ in range(6)] == [60, 120, 240, 480, 600, 600]
    assert not backoff.ready()
    now["t"] = 600
    assert backoff.ready()
    backoff.succeeded()
    assert backoff.failed() == 60
