"""How published targets reach pods: in place at every step, or frozen at pod creation.

``in-place``: a pod carries the target published at each step (the updater resizes it).
``creation``: each workload's pods are recreated every ``lifetime_s`` at a phase of their own
and carry, until the next recreation, the target in force when they were created (the webhook
sized them; nothing resizes them later). The phase is a stable hash of ``namespace/workload``,
a whole number of steps, so that workloads are not all recreated at the same hour.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from recommender.backtest.replay import ReplayTable
from recommender.model.state import ContainerKey

ACTUATIONS = ("in-place", "creation")


def phase_s(key: ContainerKey, lifetime_s: float, every_s: float) -> float:
    """The workload's recreation phase in ``[0, lifetime_s)``, a multiple of ``every_s``."""
    slots = max(int(round(lifetime_s / every_s)), 1)
    digest = zlib.crc32(f"{key.namespace}/{key.workload}".encode())
    return float(digest % slots) * every_s


def creation_steps(
    steps: np.ndarray, keys: Sequence[ContainerKey], every_s: float, lifetime_s: float
) -> np.ndarray:
    """``(steps, keys)``: the step whose target the pods running at each step carry.

    -1 where the pods were created before the first step (they carry no recommendation).
    """
    if lifetime_s <= 0:
        raise ValueError("the pod lifetime must be positive")
    out = np.empty((len(steps), len(keys)), dtype=np.intp)
    for k, key in enumerate(keys):
        phase = phase_s(key, lifetime_s, every_s)
        created = phase + np.floor((steps - phase) / lifetime_s) * lifetime_s
        # The target in force at the creation instant: the last step at or before it.
        out[:, k] = np.searchsorted(steps, created + 1e-6, side="right") - 1
    return out


def carried(table: ReplayTable, creation: np.ndarray) -> ReplayTable:
    """The targets pods carry: step ``s`` of key ``k`` takes the rows of ``creation[s, k]``."""
    rows: dict[tuple[int, int], list[int]] = {}
    for i, (s, k) in enumerate(zip(table.step, table.key, strict=True)):
        rows.setdefault((s, k), []).append(i)
    out = ReplayTable(table.every_s, table.steps, table.keys)
    for s in range(len(table.steps)):
        for k in range(len(table.keys)):
            source = int(creation[s, k])
            for i in rows.get((source, k), ()) if source >= 0 else ():
                out.step.append(s)
                out.key.append(k)
                out.resource.append(table.resource[i])
                out.target.append(table.target[i])
                out.lower.append(table.lower[i])
                out.upper.append(table.upper[i])
    return out
