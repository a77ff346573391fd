"""Usage history in columnar form: the one currency between every input and the model.

Every source (history CSV, embedded store, metrics API, Prometheus, DCGM, trace importers)
produces :class:`Samples`; the model ingests them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

CPU = "cpu"  # cores in use
MEMORY = "memory"  # bytes (working set)
GPU = "gpu"  # busy GPUs: 0.35 = 35% of one GPU, summed across the container's GPUs
GPU_MEMORY = "gpu_memory"  # bytes of GPU memory in use
OOM = "oom"  # an OOM kill; the value is the memory (bytes) in use or requested at the kill
RESOURCES = (CPU, MEMORY, GPU, GPU_MEMORY, OOM)

COLUMNS = ("timestamp", "namespace", "workload", "pod", "container", "resource", "value")


@dataclass(frozen=True)
class Samples:
    """A batch of usage samples, one row per (time, pod container, resource).

    ``timestamp`` is Unix seconds (float64), ``value`` is in base units (float64); the key columns
    are numpy object arrays of ``str``. ``workload`` is ``Kind/name``.
    """

    timestamp: np.ndarray
    namespace: np.ndarray
    workload: np.ndarray
    pod: np.ndarray
    container: np.ndarray
    resource: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @classmethod
    def empty(cls) -> Samples:
        return cls.from_columns([], [], [], [], [], [], [])

    @classmethod
    def from_columns(
        cls,
        timestamp: Sequence[float] | np.ndarray,
        namespace: Sequence[str] | np.ndarray,
        workload: Sequence[str] | np.ndarray,
        pod: Sequence[str] | np.ndarray,
        container: Sequence[str] | np.ndarray,
        resource: Sequence[str] | np.ndarray,
        value: Sequence[float] | np.ndarray,
    ) -> Samples:
        """Build from equally long columns."""
        return cls(
            np.asarray(timestamp, dtype=np.float64),
            np.asarray(namespace, dtype=object),
            np.asarray(workload, dtype=object),
            np.asarray(pod, dtype=object),
            np.asarray(container, dtype=object),
            np.asarray(resource, dtype=object),
            np.asarray(value, dtype=np.float64),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[object]]) -> Samples:
        """Build from ``(timestamp, namespace, workload, pod, container, resource, value)`` rows."""
        columns: list[list[object]] = [[] for _ in COLUMNS]
        for row in rows:
            for column, item in zip(columns, row, strict=True):
                column.append(item)
        return cls.from_columns(*columns)  # type: ignore[arg-type]

    @classmethod
    def concat(cls, parts: Iterable[Samples]) -> Samples:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def select(self, mask: np.ndarray) -> Samples:
        """Rows where ``mask`` (bool array or index array) selects."""
        return type(self)(*(getattr(self, f.name)[mask] for f in fields(self)))

    def sorted_by_time(self) -> Samples:
        order = np.argsort(self.timestamp, kind="stable")
        return self.select(order)

    def rows(self) -> Iterable[tuple[float, str, str, str, str, str, float]]:
        """Iterate rows as tuples (for writers)."""
        return zip(
            self.timestamp.tolist(),
            self.namespace.tolist(),
            self.workload.tolist(),
            self.pod.tolist(),
            self.container.tolist(),
            self.resource.tolist(),
            self.value.tolist(),
            strict=True,
        )
