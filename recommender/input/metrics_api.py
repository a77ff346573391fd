"""The Kubernetes metrics API (``metrics.k8s.io/v1beta1`` PodMetrics, from metrics-server).

Each poll gives one CPU (cores) and one memory (bytes working set) sample per container, at
the PodMetrics ``timestamp``. Pods are mapped to workloads by the caller's ``workload_of``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from recommender.checkpoint import parse_time
from recommender.history import CPU, MEMORY, Samples
from recommender.quantity import QuantityError, parse_quantity

log = logging.getLogger(__name__)

WorkloadOf = Callable[[str, str], str | None]  # (namespace, pod) -> Kind/name or None


def pod_metrics_samples(
    items: Iterable[Mapping[str, Any]], workload_of: WorkloadOf, now: float | None = None
) -> tuple[Samples, int]:
    """Samples from PodMetrics items; returns them and the count of malformed values dropped.
    Pods without a known workload are skipped (not counted as malformed)."""
    rows = []
    dropped = 0
    default_time = time.time() if now is None else now
    for item in items:
        meta = item.get("metadata") or {}
        namespace, pod = meta.get("namespace", ""), meta.get("name", "")
        workload = workload_of(namespace, pod)
        if workload is None:
            continue
        when = parse_time(item.get("timestamp")) or default_time
        for container in item.get("containers") or []:
            name = container.get("name", "")
            usage = container.get("usage") or {}
            for key, resource in (("cpu", CPU), ("memory", MEMORY)):
                try:
                    value = parse_quantity(usage[key])
                except (KeyError, QuantityError, TypeError):
                    dropped += 1
                    continue
                if not math.isfinite(value) or value < 0:
                    dropped += 1
                    continue
                rows.append((when, namespace, workload, pod, name, resource, value))
    return (Samples.from_rows(rows) if rows else Samples.empty()), dropped
