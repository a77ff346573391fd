"""Current resources from the API server: the live counterpart of ``--workloads``.

Lists the workload kinds, HPAs and VPAs through any client with ``list(path)`` (the in-cluster
recommender's :class:`recommender.cluster.api.KubeApi`) and reads them exactly as manifests
are read. List items carry no ``kind``: it is set from the collection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from recommender.cluster.paths import collection
from recommender.report.inventory import Inventory
from recommender.report.manifests import add_object

# (API prefix, plural, kind), in the order a report needs them.
COLLECTIONS = (
    ("/apis/apps/v1", "deployments", "Deployment"),
    ("/apis/apps/v1", "statefulsets", "StatefulSet"),
    ("/apis/apps/v1", "daemonsets", "DaemonSet"),
    ("/apis/batch/v1", "cronjobs", "CronJob"),
    ("/apis/batch/v1", "jobs", "Job"),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers", "VerticalPodAutoscaler"),
)


class Lister(Protocol):
    def list(self, path: str, page_size: int = 500, **query: Any) -> Iterator[dict[str, Any]]: ...


class ClusterSource:
    """:class:`~recommender.report.inventory.CurrentResourcesSource` over the API server."""

    def __init__(
        self,
        api: Lister,
        namespace: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.api, self.namespace, self.progress = api, namespace, progress

    def load(self) -> Inventory:
        inventory = Inventory()
        for done, (prefix, plural, kind) in enumerate(COLLECTIONS):
            try:
                for item in self.api.list(collection(prefix, plural, self.namespace)):
                    add_object(inventory, {**item, "kind": kind})
            except Exception as exc:
                # An API the cluster does not serve (no VPA CRDs): nothing of that kind.
                if getattr(exc, "status", None) != 404:
                    raise
            if self.progress is not None:
                self.progress(done + 1, len(COLLECTIONS))
        return inventory
