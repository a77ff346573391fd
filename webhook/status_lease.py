"""The admission-controller status upstream's vpa-updater checks, kept fresh by this webhook.

Upstream's updater evicts pods only while the Lease its admission controller renews
(``kube-system/vpa-admission-controller`` by default) was renewed within a minute: evicted
pods must be sized when they are created again. With ``--status-lease NAMESPACE/NAME`` this
webhook renews that Lease the same way (``spec.renewTime``, ``holderIdentity`` the host name)
every :data:`RENEW_SECONDS`, while its caches are synced, so upstream's updater can run beside
Tidal's webhook. Each worker renews it; a conflict means another one just did.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

RENEW_SECONDS = 10.0  # upstream admission controller's --status-lease-update-interval
CONFLICT, NOT_FOUND, EXISTS = 409, 404, 409


def parse_lease(text: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` -> (namespace, name); ValueError naming the flag otherwise."""
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"--status-lease {text!r}: expected NAMESPACE/NAME, e.g. "
                         "kube-system/vpa-admission-controller")
    return namespace, name


def micro_time(now: datetime) -> str:
    """A ``MicroTime`` as the API writes it (``2026-12-06T06:10:00.123456Z``)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StatusLease(threading.Thread):
    """Renews the status Lease every :data:`RENEW_SECONDS` while ``ready()``."""

    def __init__(self, api: Any, namespace: str, name: str, ready: Callable[[], bool],
                 stop: threading.Event, identity: str | None = None) -> None:
        super().__init__(name="status-lease", daemon=True)
        self.api, self.namespace, self.name = api, namespace, name
        self.ready, self.stop = ready, stop
        self.identity = identity or socket.gethostname()

    def run(self) -> None:
        while True:
            if self.ready():
                try:
                    self.renew()
                except Exception as exc:  # the API may fail; the next round tries again
                    log.warning("status Lease %s/%s not renewed: %s", self.namespace,
                                self.name, getattr(exc, "reason", exc))
            if self.stop.wait(RENEW_SECONDS):
                return

    def renew(self, now: datetime | None = None) -> None:
        """Create the Lease, or set its ``renewTime`` and ``holderIdentity``."""
        stamp = micro_time(now or datetime.now(UTC))
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except Exception as exc:
            if getattr(exc, "status", None) != NOT_FOUND:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {"holderIdentity": self.identity,
                             "leaseDurationSeconds": int(RENEW_SECONDS), "renewTime": stamp}}
            try:
                self.api.create_namespaced_lease(self.namespace, body)
            except Exception as created:
                if getattr(created, "status", None) != EXISTS:  # another worker created it
                    raise
            return
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": lease.metadata.resource_version},
                "spec": {"holderIdentity": self.identity,
                         "leaseDurationSeconds": int(RENEW_SECONDS), "renewTime": stamp}}
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, body)
        except Exception as exc:
            if getattr(exc, "status", None) != CONFLICT:  # another worker renewed it just now
                raise
