"""Importers and a short backtest on the developer copies of the real traces.

They live in ``../shared/traces/`` beside the repository and are never committed: without
them these tests skip.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from recommender.backtest.replay import replay
from recommender.backtest.score import score
from recommender.input.importers import read_alibaba_2018, read_alibaba_genai, read_bitbrains
from recommender.logic.strategies import STRATEGIES

TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"


def trace(rel: str) -> Path:
    path = TRACES / rel
    if not path.exists():
        pytest.skip(f"real trace {rel} not found under {TRACES} (developer copies, not in git)")
    return path


def test_bitbrains_head(tmp_path):
    head = tmp_path / "head.csv"
    with gzip.open(trace("bitbrains-rnd/2013-8.csv.gz"), "rt") as src:
        head.write_text("".join(next(src) for _ in range(3001)))
    samples = read_bitbrains(head)
    cpu = samples.value[samples.resource == "cpu"]
    assert len(cpu) > 2500 and (cpu >= 0).all() and cpu.max() < 64
    assert set(samples.namespace) == {"bitbrains"}


def test_alibaba_genai_whole():
    samples = read_alibaba_genai(trace("alibaba-genai-2026"))
    assert set(samples.resource) == {"gpu", "gpu_memory", "memory"}
    assert 50 < len(set(samples.pod)) < 200
    gpu = samples.value[samples.resource == "gpu"]
    assert gpu.min() >= 0 and gpu.max() <= 1.0
    span = samples.timestamp.max() - samples.timestamp.min()
    assert 20 * 3600 < span < 26 * 3600


def test_alibaba_2018_backtest_scores_every_strategy():
    samples = read_alibaba_2018(trace("alibaba-2018-cpu/c_12104.csv"))
    assert len(samples) > 10000 and np.all(np.diff(samples.timestamp) > 0)
    start = float(samples.timestamp.min()) + 86400
    for name in ("vpa", "tidal", "percentile"):
        result = score(replay(samples, STRATEGIES.create(name)), samples, name, start)
        cpu = result.overall["cpu"]
        assert 0.0 < cpu.slack < 1.0 and cpu.hours > 100
