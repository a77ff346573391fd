"""Upstream's vpa-admission-controller registered beside this webhook: found and said.

Both would size every new pod and the one the apiserver calls last wins. Every
:data:`CHECK_SECONDS` each worker lists the MutatingWebhookConfigurations; one that holds
upstream's webhook (named ``vpa.k8s.io``, or calling the ``vpa-webhook`` Service) is logged
once, shown by ``/readyz`` (still 200: this webhook works) and counted in
``tidal_webhook_upstream_admission_controller``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0
UPSTREAM_WEBHOOK = "vpa.k8s.io"
UPSTREAM_SERVICE = "vpa-webhook"


def upstream_configurations(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the configurations that hold upstream's pod webhook."""
    found = []
    for config in configs:
        for hook in config.get("webhooks") or []:
            service = ((hook.get("clientConfig") or {}).get("service") or {}).get("name")
            if hook.get("name") == UPSTREAM_WEBHOOK or service == UPSTREAM_SERVICE:
                found.append(str((config.get("metadata") or {}).get("name", "")))
                break
    return sorted(found)


def notice(names: list[str]) -> str:
    """What to tell people about upstream's admission controller (empty when absent)."""
    if not names:
        return ""
    return (f"upstream's vpa-admission-controller is registered ({', '.join(names)}) beside "
            "this webhook: both size new pods and the one called last wins; remove one "
            "(docs/install.md, Beside upstream VPA)")


class UpstreamCheck(threading.Thread):
    """Looks for upstream's admission controller every :data:`CHECK_SECONDS`."""

    def __init__(self, list_configurations: Any, stop: threading.Event) -> None:
        super().__init__(name="upstream-check", daemon=True)
        self.list_configurations, self.stop = list_configurations, stop
        self.names: list[str] = []

    @property
    def notice(self) -> str:
        return notice(self.names)

    def run(self) -> None:
        while True:
            self.check()
            if self.stop.wait(CHECK_SECONDS):
                return

    def check(self) -> None:
        try:
            body = json.loads(self.list_configurations(_preload_content=False).data)
        except Exception as exc:  # RBAC or the API: say so once, keep serving
            log.info("upstream admission controller not looked for: %s",
                     getattr(exc, "reason", exc))
            return
        names = upstream_configurations(body.get("items") or [])
        if names and names != self.names:
            log.warning("%s", notice(names))
        self.names = names
