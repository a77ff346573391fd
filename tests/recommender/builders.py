"""Shared builders for histories, VPAs and models in tests."""

from __future__ import annotations

import numpy as np

from recommender.history import Samples
from recommender.model.state import UsageModel

DAY = 86400.0
MI = 2**20
T0 = 1_790_000_000.0 - (1_790_000_000.0 % DAY)  # a day boundary


def samples(rows: list[tuple]) -> Samples:
    """Rows as ``(t, resource, value)`` for shop/Deployment/web pod web-1 container app,
    or full 7-tuples."""
    full = [
        r if len(r) == 7 else (r[0], "shop", "Deployment/web", "web-1", "app", r[1], r[2])
        for r in rows
    ]
    return Samples.from_rows(full)


def steady(resource: str, value: float, days: float, step: float = 60.0, start: float = T0,
           pod: str = "web-1", container: str = "app") -> Samples:
    times = np.arange(start, start + days * DAY, step)
    n = len(times)
    return Samples.from_columns(
        times, ["shop"] * n, ["Deployment/web"] * n, [pod] * n, [container] * n,
        [resource] * n, np.full(n, value),
    )


def model_of(*parts: Samples) -> UsageModel:
    model = UsageModel()
    model.ingest(Samples.concat(parts).sorted_by_time())
    return model


def vpa(name="web", workload=("Deployment", "web"), policies=None, mode="Recreate", **spec):
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": workload[0], "name": workload[1]},
            "updatePolicy": {"updateMode": mode},
            **({"resourcePolicy": {"containerPolicies": policies}} if policies else {}),
            **spec,
        },
    }
