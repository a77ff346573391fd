"""The updater's writes: ``pods/resize``, the Eviction API and Events.

Every change to a running pod goes through here. With ``dry_run`` nothing but Events is
written (reasons ``WouldResize``, ``WouldEvict``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from recommender.cluster.api import ApiException, KubeApi
from recommender.vpa import GROUP, KIND, VERSION
from updater.decide import Decision
from webhook.sizing import format_value

log = logging.getLogger(__name__)

COMPONENT = "tidal-updater"
DRY_RUN_REASONS = {"Resized": "WouldResize", "EvictedByVPA": "WouldEvict"}
STRATEGIC = "application/strategic-merge-patch+json"
# Outcomes of one action. INFEASIBLE: the apiserver refused a resize larger than the node
# ("node didn't have enough allocatable resources"), so no PodResizePending condition appears.
DONE, BLOCKED, FAILED, INFEASIBLE = "done", "blocked", "failed", "infeasible"


def _now_rfc3339(now: float) -> str:
    return dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resize_patch(decision: Decision) -> dict[str, Any]:
    """The strategic-merge patch of ``pods/resize``: every changed container at once."""
    containers = []
    for change in decision.changes:
        if not change.changed():
            continue
        resources: dict[str, Any] = {}
        for field_name, values in (("requests", change.requests), ("limits", change.limits)):
            if values:
                resources[field_name] = {r: format_value(r, v) for r, v in values.items()}
        containers.append({"name": change.name, "resources": resources})
    return {"spec": {"containers": containers}}


class Actuator:
    """Applies decisions through the API (or only reports them, in dry-run)."""

    def __init__(self, api: KubeApi, identity: str, dry_run: bool = False) -> None:
        self.api, self.identity, self.dry_run = api, identity, dry_run

    def resize(self, decision: Decision, now: float) -> str:
        pod = decision.pod
        if not self.dry_run:
            path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/resize"
            try:
                self.api.request("PATCH", path, body=resize_patch(decision), content_type=STRATEGIC)
            except ApiException as exc:
                why = _why(exc)
                if exc.status == 403 and "allocatable" in why:
                    decision.reason = f"resize infeasible: {why}"
                    log.info("resize of pod %s infeasible: %s", pod.key, why)
                    return INFEASIBLE
                log.warning("resize of pod %s failed: %s %s", pod.key, exc.status, why)
                return FAILED
        self._events(decision, "Resized", now)
        log.info("%s pod %s: %s", "would resize" if self.dry_run else "resized", pod.key,
                 decision.message())  # fmt: skip
        return DONE

    def evict(self, decision: Decision, now: float) -> str:
        pod = decision.pod
        if not self.dry_run:
            body = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": pod.name, "namespace": pod.namespace},
            }
            path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/eviction"
            try:
                self.api.create(path, body)
            except ApiException as exc:
                if exc.status == 429:  # a PodDisruptionBudget does not allow it now
                    log.info("eviction of pod %s held back: %s", pod.key, _why(exc))
                    return BLOCKED
                log.warning("eviction of pod %s failed: %s %s", pod.key, exc.status, _why(exc))
                return FAILED
        self._events(decision, "EvictedByVPA", now)
        log.info("%s pod %s: %s", "would evict" if self.dry_run else "evicted", pod.key,
                 decision.message())  # fmt: skip
        return DONE

    def _events(self, decision: Decision, reason: str, now: float) -> None:
        """One Event on the pod and one on the VPA (``kubectl describe`` shows both)."""
        pod, vpa = decision.pod, decision.vpa
        message = decision.message()
        if self.dry_run:
            reason, message = DRY_RUN_REASONS[reason], f"dry run: {message}"
        meta = vpa.raw.get("metadata") or {}
        targets = [
            ("v1", "Pod", pod.name, pod.uid),
            (f"{GROUP}/{VERSION}", KIND, vpa.name, str(meta.get("uid") or "")),
        ]
        stamp = _now_rfc3339(now)
        for api_version, kind, name, uid in targets:
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{name}.", "namespace": pod.namespace},
                "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name,
                                   "namespace": pod.namespace, "uid": uid},
                "reason": reason,
                "message": message if kind == "Pod" else f"pod {pod.name}: {message}",
                "type": "Normal",
                "source": {"component": COMPONENT},
                "reportingComponent": COMPONENT,
                "reportingInstance": self.identity,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }  # fmt: skip
            try:
                self.api.create(f"/api/v1/namespaces/{pod.namespace}/events", event)
            except ApiException as exc:
                log.warning("event on %s %s not written: %s", kind, name, _why(exc))


def _why(exc: ApiException) -> str:
    """The API's own message from an error body, else the reason."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)
