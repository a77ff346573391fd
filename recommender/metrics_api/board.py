"""The latest external metric values, published whole by the loop and read by the server."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from recommender.metrics_api.selectors import Requirement, equality_value, matches

WORKLOAD_LABEL = "workload"


@dataclass(frozen=True)
class MetricValue:
    """One series of a metric: its labels, value (in the signal's units) and time."""

    namespace: str
    labels: dict[str, str]
    value: float
    timestamp: float


class MetricBoard:
    """Values per metric name and namespace, indexed by the ``workload`` label. ``publish``
    swaps the whole board at once, so a reader sees one loop's values, never a mix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str], dict[str, list[MetricValue]]] = {}
        self._names: frozenset[str] = frozenset()

    def publish(self, metric: str, values: Iterable[MetricValue]) -> None:
        """Replace every value of ``metric``."""
        fresh: dict[tuple[str, str], dict[str, list[MetricValue]]] = {}
        for value in values:
            by_workload = fresh.setdefault((metric, value.namespace), {})
            by_workload.setdefault(value.labels.get(WORKLOAD_LABEL, ""), []).append(value)
        with self._lock:
            index = {k: v for k, v in self._index.items() if k[0] != metric}
            index.update(fresh)
            self._index = index
            self._names = self._names | {metric}

    def names(self) -> frozenset[str]:
        return self._names

    def find(self, metric: str, namespace: str,
             requirements: tuple[Requirement, ...]) -> list[MetricValue]:
        """The values of ``metric`` in ``namespace`` whose labels match."""
        by_workload = self._index.get((metric, namespace), {})
        workload = equality_value(requirements, WORKLOAD_LABEL)
        candidates = (by_workload.get(workload, []) if workload is not None
                      else [v for values in by_workload.values() for v in values])
        return [v for v in candidates if matches(requirements, v.labels)]
