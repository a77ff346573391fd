"""Conversion between a :class:`UsageModel` row and upstream VPA's checkpoint status (v3).

A checkpoint histogram is ``{referenceTimestamp, bucketWeights: {index: int}, totalWeight}``:
bucket weights are scaled so the largest is ``MAX_CHECKPOINT_WEIGHT`` and rounded, zeros are
dropped; loading rescales them so they sum to ``totalWeight``. Pure: no Kubernetes import.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

from recommender.history import CPU, MEMORY
from recommender.model.buckets import CHECKPOINT_VERSION
from recommender.model.histograms import DecayingHistograms
from recommender.model.state import UsageModel

MAX_CHECKPOINT_WEIGHT = 10000
CHECKPOINTED = {"cpuHistogram": CPU, "memoryHistogram": MEMORY}


class HistogramCheckpoint(TypedDict):
    referenceTimestamp: str | None
    bucketWeights: dict[str, int]
    totalWeight: float


def format_time(seconds: float | None) -> str | None:
    """Unix seconds as the API's RFC 3339 form (``metav1.Time``); None when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return None
    moment = dt.datetime.fromtimestamp(round(seconds), tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    """RFC 3339 (``...Z`` or with an offset) as Unix seconds; None when absent or invalid."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def save_histogram(hist: DecayingHistograms, row: int) -> HistogramCheckpoint:
    """One row as a checkpoint histogram (empty rows have no weights and total 0)."""
    weights = hist.weights[row] if row < hist.rows else np.zeros(hist.scheme.count)
    top = float(weights.max()) if weights.size else 0.0
    buckets: dict[str, int] = {}
    if top > 0:
        scaled = np.rint(weights * (MAX_CHECKPOINT_WEIGHT / top)).astype(np.int64)
        buckets = {str(i): int(scaled[i]) for i in np.flatnonzero(scaled)}
    total = float(hist.total[row]) if buckets else 0.0
    return {
        "referenceTimestamp": format_time(hist.reference) if buckets else None,
        "bucketWeights": buckets,
        "totalWeight": total,
    }


def load_histogram(hist: DecayingHistograms, row: int, data: Mapping[str, Any]) -> bool:
    """Add a checkpoint histogram into ``row`` (rescaled to ``totalWeight`` and moved to the
    model's reference time). Returns False when it holds nothing usable."""
    raw = data.get("bucketWeights") or {}
    total = float(data.get("totalWeight") or 0.0)
    try:
        pairs = [(int(k), float(v)) for k, v in raw.items()]
    except (TypeError, ValueError):
        return False
    pairs = [(i, w) for i, w in pairs if 0 <= i < hist.scheme.count and w > 0]
    scaled_sum = sum(w for _, w in pairs)
    if not pairs or total <= 0 or not math.isfinite(total):
        return False
    reference = parse_time(data.get("referenceTimestamp"))
    if reference is None:
        return False
    if hist.reference is None:
        hist.reference = round(reference / hist.half_life_s) * hist.half_life_s
    factor = total / scaled_sum * math.exp2((reference - hist.reference) / hist.half_life_s)
    hist.grow(row + 1)
    for index, weight in pairs:
        hist.weights[row, index] += weight * factor
    hist.total[row] += total * math.exp2((reference - hist.reference) / hist.half_life_s)
    return True


def checkpoint_status(model: UsageModel, row: int, now: float) -> dict[str, Any]:
    """The ``status`` of a ``VerticalPodAutoscalerCheckpoint`` for one aggregate row."""
    status: dict[str, Any] = {
        "lastUpdateTime": format_time(now),
        "version": CHECKPOINT_VERSION,
    }
    for field, resource in CHECKPOINTED.items():
        status[field] = save_histogram(model.histograms[resource], row)
    status["firstSampleStart"] = format_time(float(model.first_sample[row]))
    status["lastSampleStart"] = format_time(float(model.last_sample[row]))
    status["totalSamplesCount"] = int(model.sample_count[row])
    return status


def load_status(model: UsageModel, row: int, status: Mapping[str, Any]) -> bool:
    """Restore a row from a checkpoint status; wrong or missing version -> ignored (False)."""
    if not isinstance(status, Mapping) or status.get("version") != CHECKPOINT_VERSION:
        return False
    loaded = False
    for field, resource in CHECKPOINTED.items():
        data = status.get(field)
        if isinstance(data, Mapping):
            loaded |= load_histogram(model.histograms[resource], row, data)
    if not loaded:
        return False
    first = parse_time(status.get("firstSampleStart"))
    last = parse_time(status.get("lastSampleStart"))
    count = int(status.get("totalSamplesCount") or 0)
    if first is not None and last is not None and count > 0:
        model.first_sample[row] = min(model.first_sample[row], first)
        model.last_sample[row] = max(model.last_sample[row], last)
        model.sample_count[row] += count
        model.any_first[row] = min(model.any_first[row], first)
        model.any_last[row] = max(model.any_last[row], last)
        model.any_count[row] += count
    elif model.any_count[row] == 0:
        model.any_count[row] = 1  # histograms without evidence still count as history
    return True
