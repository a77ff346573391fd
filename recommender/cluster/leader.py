"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

A candidate takes the Lease when it is free or when the holder has not renewed it within
``leaseDurationSeconds`` of *our* observing it (local clock, so skew between nodes does not
matter); writes carry the ``resourceVersion``, so of two racing candidates only one wins.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from recommender.cluster import paths
from recommender.cluster.api import ApiException, KubeApi

log = logging.getLogger(__name__)


def micro_time(seconds: float) -> str:
    """``metav1.MicroTime`` form."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """One candidate; call :meth:`try_acquire_or_renew` every retry period."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api, self.namespace, self.name, self.identity = api, namespace, name, identity
        self.lease_duration_s = lease_duration_s
        self.clock, self.monotonic = clock, monotonic
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.is_leader = False

    def _spec(self, transitions: int, acquire: str | None = None) -> dict[str, Any]:
        now = micro_time(self.clock())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(int(self.lease_duration_s), 1),
            "acquireTime": acquire or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; returns whether we hold the Lease afterwards."""
        try:
            self.is_leader = self._attempt()
        except ApiException as exc:
            if exc.status != 409:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc.reason)
            self.is_leader = False
        return self.is_leader

    def _attempt(self) -> bool:
        path = paths.lease(self.namespace, self.name)
        lease = self.api.get(path)
        if lease is None:
            body: dict[str, Any] = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(0),
            }
            self.api.create(paths.lease(self.namespace), body)
            self._observe(body["spec"])
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self._observe(spec)
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration_s)
        expired = self.monotonic() > self._observed_at + duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            new_spec = self._spec(transitions, spec.get("acquireTime"))
        else:
            new_spec = self._spec(transitions + 1)
        lease["spec"] = new_spec
        self.api.replace(path, lease)  # carries metadata.resourceVersion: 409 when raced
        self._observe(new_spec)
        if holder != self.identity:
            log.info("became leader of lease %s/%s", self.namespace, self.name)
        return True

    def _observe(self, spec: dict[str, Any]) -> None:
        record = tuple(sorted((k, str(v)) for k, v in spec.items()))
        if record != self._observed:
            self._observed, self._observed_at = record, self.monotonic()

    def release(self) -> None:
        """Give the Lease up (empty holder) so another replica takes over at once."""
        if not self.is_leader:
            return
        path = paths.lease(self.namespace, self.name)
        try:
            lease = self.api.get(path)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                self.api.replace(path, lease)
        except ApiException as exc:
            log.warning("lease release: %s", exc.reason)
        self.is_leader = False
