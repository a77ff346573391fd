"""Writes VPA statuses through the status subresource, only when they changed meaningfully,
``workers`` patches at once; and the next-hours annotation of VPAs resized in place
(:mod:`recommender.cluster.next_hours`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi
from recommender.cluster.next_hours import annotation_patch
from recommender.cluster.status import (
    Outcome,
    StatusCache,
    changed_meaningfully,
    desired_status,
)
from recommender.cluster.telemetry import Telemetry
from recommender.quantity import Rounding

log = logging.getLogger(__name__)


@dataclass
class Writes:
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    annotated: int = 0  # next-hours annotations set or removed


class StatusWriter:
    """The status side of the loop, with its cache of what each VPA's status holds."""

    def __init__(
        self, api: KubeApi, rounding: Rounding, tolerance: float, workers: int,
        telemetry: Telemetry, clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.rounding, self.tolerance = api, rounding, tolerance
        self.workers, self.telemetry, self.clock = max(workers, 1), telemetry, clock
        self.statuses = StatusCache()

    def write(
        self, outcomes: Mapping[tuple[str, str], tuple[Mapping[str, Any], Outcome]]
    ) -> Writes:
        """Patch the status of VPAs whose status changed meaningfully."""
        now, result = self.clock(), Writes()
        patches = []
        for key, (obj, outcome) in outcomes.items():
            old = obj.get("status") or {}
            if self.statuses.unchanged(key, obj, outcome, self.tolerance):
                result.unchanged += 1
                continue
            new = desired_status(outcome, old, self.rounding, now)
            if changed_meaningfully(old, new, self.tolerance):
                patches.append((*key, new))
            else:
                result.unchanged += 1
                self.statuses.remember(key, obj)
        self.telemetry.status_skipped.inc(result.unchanged)
        annotations = []
        for (namespace, name), (obj, outcome) in outcomes.items():
            if outcome.config_error is None:
                patch = annotation_patch(obj, outcome.next_hours, self.rounding, self.tolerance)
                if patch is not None:
                    annotations.append((namespace, name, patch))
        if patches or annotations:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                result.written = sum(pool.map(self._patch, patches))
                result.annotated = sum(pool.map(self._annotate, annotations))
        result.failed = len(patches) + len(annotations) - result.written - result.annotated
        self.telemetry.status_writes.inc(result.written)
        return result

    def _annotate(self, item: tuple[str, str, dict[str, Any]]) -> bool:
        namespace, name, patch = item
        try:
            self.api.merge_patch(paths.vpa(namespace, name), patch)
        except (ApiException, OSError) as exc:
            log.warning("next-hours annotation of %s/%s: %s", namespace, name,
                        getattr(exc, "reason", exc))
            return False
        self.statuses.forget((namespace, name))  # a new resourceVersion
        return True

    def _patch(self, item: tuple[str, str, dict[str, Any]]) -> bool:
        namespace, name, status = item
        try:
            written = self.api.merge_patch(paths.vpa_status(namespace, name), {"status": status})
        except (ApiException, OSError) as exc:
            log.warning("status of %s/%s: %s", namespace, name, getattr(exc, "reason", exc))
            self.statuses.forget((namespace, name))
            return False
        self.statuses.remember((namespace, name), written)
        return True
