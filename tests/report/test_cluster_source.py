"""The cluster source reads list results like manifests (kinds from the collection)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from recommender.report.cluster_source import COLLECTIONS, ClusterSource
from tests.report.conftest import STRATEGY, VPAS, WORKLOADS


class FakeApi:
    """Serves the demo manifests as an API server's list responses (without ``kind``)."""

    def __init__(self) -> None:
        docs = [*yaml.safe_load_all(WORKLOADS.read_text()), *yaml.safe_load_all(VPAS.read_text())]
        docs.append({"kind": "Job", "metadata": {
            "name": "nightly-etl-29123", "namespace": "batch",
            "ownerReferences": [{"kind": "CronJob", "name": "nightly-etl"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "etl"}]}}}})
        self.objects = [d for d in docs if d]
        self.paths: list[str] = []

    def list(self, path: str, page_size: int = 500, **query: Any) -> Iterator[dict[str, Any]]:
        self.paths.append(path)
        plural = path.rsplit("/", 1)[-1]
        kind = next(k for _, p, k in COLLECTIONS if p == plural)
        namespace = path.split("/namespaces/")[1].split("/")[0] if "/namespaces/" in path else None
        for obj in self.objects:
            if obj["kind"] == kind and namespace in (None, obj["metadata"].get("namespace")):
                yield {k: v for k, v in obj.items() if k != "kind"}


def test_cluster_source_matches_the_manifest_source() -> None:
    from recommender.report.manifests import ManifestSource

    steps: list[tuple[int, int]] = []
    api = FakeApi()
    inventory = ClusterSource(api, progress=lambda d, t: steps.append((d, t))).load()
    offline = ManifestSource([WORKLOADS, VPAS]).load()
    assert inventory.workloads == offline.workloads  # the CronJob's Job is not a workload
    assert inventory.autoscalers == offline.autoscalers
    assert sorted(v.key for v in inventory.vpas) == sorted(v.key for v in offline.vpas)
    assert len(inventory.vpas) == 4
    assert steps[-1] == (len(COLLECTIONS), len(COLLECTIONS))
    assert api.paths[0] == "/apis/apps/v1/deployments"


def test_a_missing_api_counts_as_empty() -> None:
    class NoCrds(FakeApi):
        def list(self, path: str, page_size: int = 500, **query: Any) -> Iterator[dict[str, Any]]:
            if "autoscaling.k8s.io" in path:
                raise NotFound()
            return super().list(path, page_size, **query)

    class NotFound(Exception):
        status = 404

    inventory = ClusterSource(NoCrds()).load()
    assert inventory.vpas == [] and len(inventory.workloads) == 5

    class Forbidden(FakeApi):
        def list(self, path: str, page_size: int = 500, **query: Any) -> Iterator[dict[str, Any]]:
            raise PermissionError("403 Forbidden")

    with pytest.raises(PermissionError):
        ClusterSource(Forbidden()).load()


def test_cluster_source_in_one_namespace() -> None:
    api = FakeApi()
    inventory = ClusterSource(api, namespace="ml").load()
    assert sorted(w for _, w in inventory.workloads) == [
        "Deployment/embedder", "Deployment/llm-inference"]
    assert api.paths[0] == "/apis/apps/v1/namespaces/ml/deployments"


def test_report_from_cluster(monkeypatch, demo_csv, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from recommender.cli import main
    from recommender.commands import report

    monkeypatch.setattr(report, "cluster_api", lambda kubeconfig: FakeApi())
    code = main(["report", "--history", str(demo_csv), "--from-cluster", "--format", "json",
                 "--gpu-model", "A100-80GB", "--generated-at", "2026-11-01T00:00:00Z",
                 "--strategy", STRATEGY])
    assert code == 0
    live = json.loads(capsys.readouterr().out)
    golden = (WORKLOADS.parents[1] / "tests/report/golden/demo.json").read_text()
    offline = json.loads(golden)
    offline["source"] = live["source"]
    assert live == offline  # the same report as from --workloads and --policy files


def test_from_cluster_errors_are_one_line(monkeypatch, demo_csv, capsys) -> None:  # type: ignore[no-untyped-def]
    from recommender.cli import main
    from recommender.commands import report

    def broken(kubeconfig: str | None) -> FakeApi:
        raise RuntimeError("Invalid kube-config file. No configuration found.")

    monkeypatch.setattr(report, "cluster_api", broken)
    assert main(["report", "--history", str(demo_csv), "--from-cluster"]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("No configuration found.") and len(err.splitlines()) == 1
