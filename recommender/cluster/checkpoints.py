"""``VerticalPodAutoscalerCheckpoint`` objects: write (oldest first, within a deadline),
load at start, and garbage-collect those whose VPA is gone.

One checkpoint per VPA container, named ``<vpa>-<container>`` as upstream; the conversion
itself is :mod:`recommender.checkpoint`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from recommender.checkpoint import checkpoint_status, load_status
from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.model.state import ContainerKey, UsageModel
from recommender.vpa import CHECKPOINT_KIND, GROUP, VERSION, Vpa

log = logging.getLogger(__name__)


def checkpoint_name(vpa_name: str, container: str) -> str:
    return f"{vpa_name}-{container}"


def checkpoint_object(vpa: Vpa, container: str, status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": CHECKPOINT_KIND,
        "metadata": {"name": checkpoint_name(vpa.name, container), "namespace": vpa.namespace},
        "spec": {"vpaObjectName": vpa.name, "containerName": container},
        "status": dict(status),
    }


def save_checkpoint(
    api: KubeApi, vpa: Vpa, container: str, status: Mapping[str, Any], exists: bool = True
) -> None:
    """Replace the checkpoint's spec and status (JSON patch ``add``) when it ``exists``, else
    create it; either way falls back to the other on 404 / 409."""
    path = paths.checkpoint(vpa.namespace, checkpoint_name(vpa.name, container))
    obj = checkpoint_object(vpa, container, status)
    ops = [
        {"op": "add", "path": "/spec", "value": obj["spec"]},
        {"op": "add", "path": "/status", "value": obj["status"]},
    ]
    if not exists:
        try:
            api.create(paths.checkpoints(vpa.namespace), obj)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
    try:
        api.json_patch(path, ops)
    except ApiException as exc:
        if exc.status != 404:
            raise
        api.create(paths.checkpoints(vpa.namespace), obj)


class CheckpointWriter:
    """Writes checkpoints of served VPAs' containers, least recently written first, with
    ``workers`` requests in flight, until ``deadline_s`` has passed."""

    def __init__(
        self, api: KubeApi, interval_s: float, deadline_s: float, workers: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.interval_s, self.deadline_s = api, interval_s, deadline_s
        self.workers, self.clock = max(workers, 1), clock
        self.last_written: dict[tuple[str, str, str], float] = {}
        self.existing: set[tuple[str, str]] = set()  # (namespace, name) known to exist

    def write(self, model: UsageModel, targets: Iterable[tuple[Vpa, ContainerKey]]) -> int:
        """Write due checkpoints until the deadline; returns how many were written."""
        now = self.clock()
        due = []
        for vpa, key in targets:
            row = model.find(key)
            if row is None or model.any_count[row] == 0:
                continue
            id_ = (vpa.namespace, vpa.name, key.container)
            last = self.last_written.get(id_, -float("inf"))
            if now - last >= self.interval_s:
                due.append((last, id_, vpa, key.container, row))
        due.sort(key=lambda item: item[0])
        deadline = time.monotonic() + self.deadline_s

        def save(item: tuple[float, tuple[str, str, str], Vpa, str, int]) -> bool:
            _, id_, vpa, container, row = item
            if time.monotonic() > deadline:
                return False
            name = (vpa.namespace, checkpoint_name(vpa.name, container))
            try:
                save_checkpoint(self.api, vpa, container, checkpoint_status(model, row, now),
                                exists=name in self.existing)
            except ApiException as exc:
                log.warning("checkpoint %s/%s: %s", vpa.key, container, exc.reason)
                return False
            self.existing.add(name)
            self.last_written[id_] = now
            return True

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return sum(pool.map(save, due))


def load_checkpoints(
    api: KubeApi, model: UsageModel, vpas: Mapping[tuple[str, str], Vpa],
    namespace: str | None = None, existing: set[tuple[str, str]] | None = None,
) -> int:
    """Restore every checkpoint whose VPA is in ``vpas`` (by namespace and name) into the
    aggregate of that VPA's target; ``existing`` collects every checkpoint's (namespace, name).
    Returns how many were loaded."""
    loaded = 0
    for obj in api.list(paths.checkpoints(namespace)):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        if existing is not None:
            existing.add((meta.get("namespace", ""), meta.get("name", "")))
        vpa = vpas.get((meta.get("namespace", ""), spec.get("vpaObjectName", "")))
        if vpa is None or vpa.target_ref is None:
            continue
        key = ContainerKey(vpa.namespace, vpa.target_ref.workload, spec.get("containerName", ""))
        if model.find(key) is not None:
            continue  # fresher state already in memory
        row = model.row(key)
        if load_status(model, row, obj.get("status") or {}):
            loaded += 1
    return loaded


def collect_garbage(
    api: KubeApi, existing_vpas: set[tuple[str, str]], namespace: str | None = None
) -> int:
    """Delete checkpoints whose VPA (by namespace and name) no longer exists."""
    deleted = 0
    for obj in api.list(paths.checkpoints(namespace)):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        ns = meta.get("namespace", "")
        if (ns, spec.get("vpaObjectName", "")) in existing_vpas:
            continue
        api.delete(paths.checkpoint(ns, meta.get("name", "")))
        log.info("deleted orphaned checkpoint %s/%s", ns, meta.get("name"))
        deleted += 1
    return deleted
