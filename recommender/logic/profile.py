"""The tide beside a held recommendation: the next-hours target at each UTC hour of the day.

Offline commands print held targets (the same whatever hour they run); this profile shows
what an in-place VPA would be resized to hour by hour instead: for each hour of the last day,
the target the strategy's next-hours choice gave for it, floors and the VPA's policy applied.
Strategies without hourly state (``vpa``, ``percentile``) have no profile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from recommender.history import CPU, GPU, MEMORY
from recommender.logic.recommend import pod_shares, vpa_index
from recommender.logic.strategies import Strategy
from recommender.model.state import ContainerKey, UsageModel
from recommender.policy import cap
from recommender.quantity import CPU as K8S_CPU
from recommender.quantity import GPU as K8S_GPU
from recommender.quantity import MEMORY as K8S_MEMORY
from recommender.quantity import human
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import Vpa

HOURS_OF_DAY = 24
BARS = "▁▂▃▄▅▆▇█"
K8S_NAMES = {CPU: K8S_CPU, MEMORY: K8S_MEMORY, GPU: K8S_GPU}
Profiles = dict[ContainerKey, dict[str, list[float]]]  # resource -> 24 values (NaN: unknown)


def hourly_profiles(
    model: UsageModel,
    strategy: Strategy,
    recs: Sequence[ContainerRecommendation],
    vpas: Iterable[Vpa] = (),
) -> Profiles:
    """Each recommendation's next-hours target by UTC hour of day (index 0 = 00:00-01:00),
    for the resources its target has; empty for strategies without a profile."""
    profile = getattr(strategy, "hourly_profile", None)
    if profile is None or not recs:
        return {}
    index = vpa_index(vpas)
    found = []  # (recommendation, its key, its model row) for those the model holds
    for rec in recs:
        key = ContainerKey(rec.namespace, rec.workload, rec.container)
        row = model.find(key)
        if row is not None:
            found.append((rec, key, row))
    if not found:
        return {}
    rows = np.array([row for _, _, row in found], dtype=np.intp)
    by_resource: dict[str, np.ndarray] = profile(model, rows, pod_shares(model.keys, rows, index))
    out: Profiles = {}
    for i, (rec, key, _) in enumerate(found):
        vpa = index.get((rec.namespace, rec.workload))
        policy = vpa.policy_for(rec.container) if vpa else None
        values = {}
        for resource, table in by_resource.items():
            name = K8S_NAMES.get(resource, resource)
            if name in rec.target:
                values[name] = [
                    cap(name, v, policy)[0] if math.isfinite(v) else math.nan
                    for v in table[i].tolist()
                ]
        if values:
            out[key] = values
    return out


def describe(resource: str, values: Sequence[float]) -> str:
    """One line for people: a sparkline of the 24 hours (one bar an hour from 00:00 UTC,
    blank where unknown) and the low-high range, e.g. ``▁▁▂▅▇█▆▃ 157m-1.27``."""
    known = [v for v in values if math.isfinite(v)]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    bars = "".join(
        " " if not math.isfinite(v)
        else BARS[min(int((v - low) / span * len(BARS)), len(BARS) - 1) if span > 0 else 0]
        for v in values
    )
    return f"{bars} {human(resource, low)}-{human(resource, high)}"
