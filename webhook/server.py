"""The gunicorn application: per-worker cluster caches, the Flask app, and reloading TLS."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from gunicorn.app.base import BaseApplication

from webhook import gunicorn_conf
from webhook.app import create_app, refresh_cache_metrics
from webhook.arbiter import WebhookArbiter
from webhook.metrics import WebhookMetrics
from webhook.settings import ServeSettings
from webhook.state import ClusterState
from webhook.status_lease import StatusLease, parse_lease
from webhook.tls import ReloadingContext
from webhook.upstream import UpstreamCheck
from webhook.watch import load_api_client, start_informers

log = logging.getLogger(__name__)

METRICS_REFRESH_SECONDS = 5


def _objects(documents: Iterator[Any]) -> Iterator[Mapping[str, Any]]:
    for doc in documents:
        if isinstance(doc, Mapping) and isinstance(doc.get("items"), list):
            yield from (item for item in doc["items"] if isinstance(item, Mapping))
        elif isinstance(doc, Mapping):
            yield doc


def load_state_file(path: Path) -> ClusterState:
    """A synced state from a YAML/JSON file of objects (documents or ``kind: List``)."""
    with open(path, encoding="utf-8") as handle:
        return ClusterState.from_objects(list(_objects(yaml.safe_load_all(handle))))


class WebhookServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the webhook app; each worker builds its own caches after the fork."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.tls = ReloadingContext(settings.cert, settings.key)
        self.state: ClusterState | None = None
        self.upstream: UpstreamCheck | None = None
        self.metrics: WebhookMetrics | None = None
        self._stop = threading.Event()
        if settings.state_file is None and not settings.no_cluster:
            # Import the (large) client once in the arbiter: workers inherit it and boot fast.
            # A worker still booting when SIGTERM arrives would miss it (gunicorn installs the
            # worker's handlers only after post_fork) and be killed at graceful_timeout.
            import kubernetes.client
            import kubernetes.config
            import kubernetes.watch  # noqa: F401
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_conf.settings(self.settings).items():
            if name in self.cfg.settings:
                self.cfg.set(name, value)
        self.cfg.set("ssl_context", self.ssl_context)

    def ssl_context(self, conf: Any, default_factory: Any) -> Any:
        """gunicorn hook: the current (possibly reloaded) server context."""
        return self.tls.context()

    @property
    def watches_cluster(self) -> bool:
        """Whether the workers' state comes from watching a cluster (so it must sync)."""
        return self.settings.state_file is None and not self.settings.no_cluster

    def start_worker(self) -> None:
        """Build this worker's metrics and cluster state, and start its watch threads."""
        self._stop = threading.Event()
        self.metrics = WebhookMetrics()
        self.state = self._build_state()
        state, metrics = self.state, self.metrics

        def refresh() -> None:
            while not self._stop.wait(METRICS_REFRESH_SECONDS):
                refresh_cache_metrics(state, metrics)
                metrics.upstream.set(1 if self.upstream and self.upstream.names else 0)

        refresh_cache_metrics(state, metrics)
        threading.Thread(target=refresh, name="cache-metrics", daemon=True).start()

    def _build_state(self) -> ClusterState:
        if self.settings.state_file is not None:
            log.info("serving a static cluster state from %s", self.settings.state_file)
            return load_state_file(self.settings.state_file)
        if self.settings.no_cluster:
            return ClusterState(enabled=False)
        state = ClusterState()
        threading.Thread(
            target=self._connect, args=(state,), name="cluster-connect", daemon=True
        ).start()
        return state

    def _connect(self, state: ClusterState) -> None:
        """Off the boot path: build the API client and start the watches."""
        api_client = load_api_client(self.settings.kubeconfig)
        if api_client is None:
            state.enabled = False
            return
        start_informers(api_client, state, self._stop)
        from kubernetes import client

        self.upstream = UpstreamCheck(
            client.AdmissionregistrationV1Api(api_client).list_mutating_webhook_configuration,
            self._stop)
        self.upstream.start()
        if self.settings.status_lease:
            namespace, name = parse_lease(self.settings.status_lease)
            StatusLease(client.CoordinationV1Api(api_client), namespace, name,
                        lambda: state.ready, self._stop).start()

    def stop_worker(self) -> None:
        """Stop this worker's watch and metrics threads."""
        self._stop.set()

    def run(self) -> None:
        """Serve until stopped, under :class:`webhook.arbiter.WebhookArbiter`."""
        try:
            WebhookArbiter(self).run()
        except RuntimeError as exc:  # as gunicorn's own run(): one line, exit status 1
            print(f"tidal-webhook: error: {exc}", file=sys.stderr)
            sys.exit(1)

    def load(self) -> Any:
        if self.state is None:  # not forked by an arbiter (e.g. a test calling load())
            self.start_worker()
        assert self.state is not None
        return create_app(self.state, self.metrics, noop_endpoint=self.settings.noop_endpoint,
                          notices=self.notices)

    def notices(self) -> list[str]:
        """What /readyz says besides its status."""
        said = self.upstream.notice if self.upstream is not None else ""
        return [said] if said else []
