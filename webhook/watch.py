"""Watch-based caches: one thread per kind lists, then watches, and keeps ClusterState current.

Started in each gunicorn worker after the fork (threads do not survive a fork). A failed list
or watch is retried with backoff; a 410 Gone (expired resourceVersion) triggers a fresh list.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from recommender.owners import POD
from recommender.vpa import GROUP as VPA_GROUP
from recommender.vpa import KIND as VPA_KIND
from recommender.vpa import PLURAL as VPA_PLURAL
from recommender.vpa import VERSION as VPA_VERSION
from webhook.hpa import KIND as HPA_KIND
from webhook.state import (
    CLAIM_TEMPLATE,
    DAEMON_SET,
    DEPLOYMENT,
    JOB,
    LIMIT_RANGE,
    NAMESPACE,
    REPLICA_SET,
    STATEFUL_SET,
    ClusterState,
)

log = logging.getLogger(__name__)

LIST_PAGE = 500
WATCH_TIMEOUT_SECONDS = 300
BACKOFF_SECONDS = (1, 2, 5, 10, 30)
GONE = 410
FORBIDDEN, NOT_FOUND = 403, 404
# Kinds only GPU claims need: a cluster may not serve the API (DRA before 1.34) or an older
# install's RBAC not grant it; then they are empty (no GPU claims) and looked for again later.
OPTIONAL_KINDS = (NAMESPACE, CLAIM_TEMPLATE)
ABSENT_RECHECK_SECONDS = 300
OWNER_POD_POLL_SECONDS = 0.2  # how soon a pod that owns a new StatefulSet is fetched

ListFn = Callable[..., Any]


def load_api_client(kubeconfig: str | None) -> Any | None:
    """An API client from ``kubeconfig``, in-cluster config, or the default kubeconfig.

    None when no cluster is configured at all.
    """
    from kubernetes import client, config

    try:
        if kubeconfig:
            return config.new_client_from_config(config_file=kubeconfig)
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            return config.new_client_from_config()
    except (config.ConfigException, OSError) as exc:
        log.warning("no Kubernetes cluster configured (%s): admissions are allowed unchanged", exc)
        return None


def list_functions(api_client: Any) -> dict[str, ListFn]:
    """The list call (also used to watch) for each cached kind."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    return {
        VPA_KIND: functools.partial(
            custom.list_cluster_custom_object, VPA_GROUP, VPA_VERSION, VPA_PLURAL
        ),
        HPA_KIND: client.AutoscalingV2Api(
            api_client
        ).list_horizontal_pod_autoscaler_for_all_namespaces,
        LIMIT_RANGE: client.CoreV1Api(api_client).list_limit_range_for_all_namespaces,
        REPLICA_SET: client.AppsV1Api(api_client).list_replica_set_for_all_namespaces,
        JOB: client.BatchV1Api(api_client).list_job_for_all_namespaces,
        STATEFUL_SET: client.AppsV1Api(api_client).list_stateful_set_for_all_namespaces,
        DEPLOYMENT: client.AppsV1Api(api_client).list_deployment_for_all_namespaces,
        DAEMON_SET: client.AppsV1Api(api_client).list_daemon_set_for_all_namespaces,
        NAMESPACE: client.CoreV1Api(api_client).list_namespace,
        CLAIM_TEMPLATE: client.ResourceV1Api(
            api_client
        ).list_resource_claim_template_for_all_namespaces,
    }


def _short(exc: Exception) -> str:
    """One line for an API error (the client's own text spans headers and body)."""
    status = getattr(exc, "status", None)
    if status is not None:
        return f"{status} {getattr(exc, 'reason', '') or type(exc).__name__}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class Informer(threading.Thread):
    """Keeps one kind of ``state`` current: list, then watch from the list's version."""

    def __init__(
        self,
        kind: str,
        list_fn: ListFn,
        state: ClusterState,
        stop: threading.Event,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.kind = kind
        self.list_fn = list_fn
        self.state = state
        self.stop = stop
        self.on_change = on_change or (lambda: None)

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                version = self._list()
                failures = 0
                while not self.stop.is_set():
                    version = self._watch(version)
            except Exception as exc:  # the thread must survive anything the API does
                status = getattr(exc, "status", None)
                if status == GONE:
                    log.info("%s watch expired; listing again", self.kind)
                    continue
                if status in (FORBIDDEN, NOT_FOUND) and self.kind in OPTIONAL_KINDS:
                    if not self.state.is_synced(self.kind):
                        why = "not permitted (RBAC)" if status == FORBIDDEN else "not served"
                        log.warning("%s: listing is %s; GPU claims are off until it is",
                                    self.kind, why)
                    self.state.replace(self.kind, [])
                    self.on_change()
                    self.stop.wait(ABSENT_RECHECK_SECONDS)
                    continue
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("%s cache: %s; retrying in %ss", self.kind, _short(exc), delay)
                self.stop.wait(delay)

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            body = json.loads(self.list_fn(**kwargs).data)
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                break
        self.state.replace(self.kind, items)
        self.on_change()
        log.info("%s cache synced: %d objects", self.kind, len(items))
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        from kubernetes import watch

        stream = watch.Watch().stream(
            self.list_fn,
            resource_version=version,
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
            allow_watch_bookmarks=True,
            deserialize=False,
        )
        for event in stream:
            if self.stop.is_set():
                break
            kind, obj = event.get("type"), event.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED"):
                self.state.upsert(self.kind, obj)
            elif kind == "DELETED":
                self.state.delete(self.kind, obj)
            else:
                self.state.touch(self.kind)
            self.on_change()
        return version


class OwnerPods(threading.Thread):
    """Fetches the pods that own cached controllers (``ClusterState.wanted_pods``): a
    LeaderWorkerSet's leader pod owns its workers' StatefulSet, and a worker pod's workload is
    found through it. One GET per such pod, when its StatefulSet appears; never per
    admission."""

    def __init__(self, read_pod: Callable[..., Any], state: ClusterState,
                 stop: threading.Event) -> None:
        super().__init__(name="watch-owner-pods", daemon=True)
        self.read_pod, self.state, self.stop = read_pod, state, stop

    def run(self) -> None:
        while not self.stop.wait(OWNER_POD_POLL_SECONDS):
            self.fetch()

    def fetch(self) -> None:
        """Fetch every wanted pod once (a missing one is forgotten)."""
        for namespace, name in self.state.take_wanted_pods():
            try:
                body = json.loads(self.read_pod(name, namespace, _preload_content=False).data)
            except Exception as exc:  # gone, or the API failed: a later event asks again
                log.info("owner pod %s/%s not read: %s", namespace, name, exc)
                continue
            body.setdefault("metadata", {}).setdefault("namespace", namespace)
            self.state.upsert(POD, body)


def start_informers(
    api_client: Any,
    state: ClusterState,
    stop: threading.Event,
    on_change: Callable[[], None] | None = None,
) -> None:
    """Start one informer thread per kind; setting ``stop`` stops them."""
    from kubernetes import client

    for kind, list_fn in list_functions(api_client).items():
        Informer(kind, list_fn, state, stop, on_change).start()
    read_pod: Callable[..., Any] = client.CoreV1Api(api_client).read_namespaced_pod

    def read_now(namespace: str, name: str) -> Any:
        """At admission, for a pod the background fetch has not read yet: 1 s at most."""
        reply = read_pod(name, namespace, _preload_content=False, _request_timeout=1.0)
        return json.loads(reply.data)

    state.read_pod = read_now
    OwnerPods(read_pod, state, stop).start()
