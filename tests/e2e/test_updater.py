"""``tidal-updater`` against a real control plane whose hollow node runs the pods.

The real kube-scheduler places the pods and the real kubelet (kubemark's hollow kubelet, see
``tests/e2e/controlplane/cmd/hollow-node``) runs them and carries out in-place resizes; the
updater runs as its own process (``python -m updater``), as in a cluster. Recommendations are
written to the VPA status directly, as a recommender would; the startup-boost test also runs
Tidal's webhook (``make dev``'s stack) so that pods are boosted at creation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import REPO, KubeCluster, free_port, wait_until
from tests.e2e.conftest import fresh_namespace
from tests.e2e.tidal_stack import (
    apply,
    container,
    deployment,
    dry_run,
    probe_pod,
    set_recommendation,
    stack_namespace,
    vpa,
    wait_for_webhook,
    webhook_stack,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REQUESTS = {"cpu": "100m", "memory": "64Mi"}
LIMITS = {"cpu": "200m", "memory": "128Mi"}


@pytest.fixture(scope="module")
def cluster(kube_nodes: KubeCluster) -> KubeCluster:
    proc = kube_nodes.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr
    kube_nodes.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                       "crd/verticalpodautoscalers.autoscaling.k8s.io", check=True)  # fmt: skip
    return kube_nodes


class UpdaterProcess:
    """``python -m updater`` for one namespace, looping every second; stopped by its PID."""

    def __init__(self, cluster: KubeCluster, namespace: str, log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log
        cmd = [sys.executable, "-m", "updater", f"--kubeconfig={cluster.kubeconfig}",
               f"--namespace={namespace}", "--interval=1s", "--no-leader-election",
               f"--port={self.port}", *args]  # fmt: skip
        self.out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=cluster.env(), stdout=self.out,
                                     stderr=subprocess.STDOUT)  # fmt: skip

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


@pytest.fixture
def namespace(cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = fresh_namespace(cluster, request.node.name.removeprefix("test_"))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def start_updater(
    cluster: KubeCluster, namespace: str, tmp_path: Path
) -> Iterator[Any]:
    started: list[UpdaterProcess] = []

    def start(*args: str) -> UpdaterProcess:
        process = UpdaterProcess(cluster, namespace, tmp_path / "updater.log", *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def running_pods(cluster: KubeCluster, namespace: str, count: int) -> list[dict[str, Any]]:
    """Wait for ``count`` Running and Ready pods of app=web; returns them."""

    def ready() -> list[dict[str, Any]] | None:
        pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
        live = [
            p for p in pods
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))
        ]  # fmt: skip
        return live if len(live) == count else None

    result: list[dict[str, Any]] = wait_until(ready, timeout=60, what=f"{count} running pods")
    return result


def setup_workload(
    cluster: KubeCluster, namespace: str, mode: str, target: dict[str, str], replicas: int = 2
) -> list[dict[str, Any]]:
    apply(cluster, namespace, deployment("web", [container("app", REQUESTS, LIMITS)], replicas))
    pods = running_pods(cluster, namespace, replicas)
    apply(cluster, namespace, vpa("web", "web", mode))
    set_recommendation(cluster, namespace, "web", {"app": target})
    return pods


def resources(pod: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(spec resources, status resources, restart count) of the pod's one container."""
    status = pod["status"]["containerStatuses"][0]
    return pod["spec"]["containers"][0]["resources"], status.get("resources", {}), status[
        "restartCount"
    ]


def describe(cluster: KubeCluster, namespace: str, *what: str) -> str:
    proc = cluster.kubectl("describe", *what, "-n", namespace)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_in_place_resize_keeps_the_pod_and_its_containers(
    cluster: KubeCluster, namespace: str, start_updater: Any
) -> None:
    before = setup_workload(cluster, namespace, "InPlaceOrRecreate",
                            {"cpu": "150m", "memory": "96Mi"})  # fmt: skip
    uids = {p["metadata"]["uid"] for p in before}
    updater = start_updater()

    def resized() -> list[dict[str, Any]] | None:
        pods = running_pods(cluster, namespace, 2)
        done = [p for p in pods if resources(p)[1].get("requests", {}).get("cpu") == "150m"]
        return pods if len(done) == 2 else None

    pods = wait_until(resized, timeout=60, what="both pods resized in place")
    for pod in pods:
        spec, status, restarts = resources(pod)
        assert pod["metadata"]["uid"] in uids  # the same pods
        assert restarts == 0
        assert spec == {"requests": {"cpu": "150m", "memory": "96Mi"},
                        "limits": {"cpu": "300m", "memory": "192Mi"}}  # fmt: skip
        assert status["requests"] == {"cpu": "150m", "memory": "96Mi"}
        assert status["limits"]["cpu"] == "300m"
    name = pods[0]["metadata"]["name"]
    expected = "Resized cpu 100m -> 150m, memory 64Mi -> 96Mi: InPlaceOrRecreate, outside bounds"
    assert expected in " ".join(describe(cluster, namespace, "pod", name).split())
    assert expected in " ".join(describe(cluster, namespace, "vpa", "web").split())
    assert 'tidal_updater_resizes_total{mode="InPlaceOrRecreate"} 2.0' in updater.metrics()


def test_in_place_or_recreate_evicts_when_the_resize_is_larger_than_the_node(
    cluster: KubeCluster, namespace: str, start_updater: Any
) -> None:
    before = setup_workload(cluster, namespace, "InPlaceOrRecreate",
                            {"cpu": "8", "memory": "64Mi"})  # the node has 4 cores  # fmt: skip
    uids = {p["metadata"]["uid"] for p in before}
    updater = start_updater()

    def evicted() -> bool:
        pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
        return any(p["metadata"]["uid"] not in uids for p in pods)

    wait_until(evicted, timeout=60, what="a pod replaced after eviction")
    events = cluster.get_json("events", "-n", namespace)["items"]
    reasons = {e["reason"] for e in events if e["source"].get("component") == "tidal-updater"}
    assert "EvictedByVPA" in reasons and "Resized" not in reasons
    vpa_text = " ".join(describe(cluster, namespace, "vpa", "web").split())
    assert "Evicted to apply cpu 100m -> 8" in vpa_text
    assert "resize infeasible" in vpa_text and "allocatable" in vpa_text
    metrics = updater.metrics()
    assert 'tidal_updater_fallbacks_total{reason="infeasible"}' in metrics


def test_in_place_never_evicts(cluster: KubeCluster, namespace: str, start_updater: Any) -> None:
    before = setup_workload(cluster, namespace, "InPlace", {"cpu": "8", "memory": "64Mi"})
    uids = sorted(p["metadata"]["uid"] for p in before)
    updater = start_updater()
    wait_until(lambda: 'tidal_updater_skips_total{reason="infeasible"}' in updater.metrics(),
               timeout=30, what="an infeasible resize")  # fmt: skip
    wait_until(lambda: "retried only when" in updater.log.read_text() or _loops(updater) >= 4,
               timeout=30, what="more loops")  # fmt: skip
    pods = running_pods(cluster, namespace, 2)
    assert sorted(p["metadata"]["uid"] for p in pods) == uids
    assert all(resources(p)[0]["requests"]["cpu"] == "100m" for p in pods)
    assert "tidal_updater_evictions_total" not in _samples(updater.metrics())


def test_initial_never_touches_running_pods(
    cluster: KubeCluster, namespace: str, start_updater: Any
) -> None:
    before = setup_workload(cluster, namespace, "Initial", {"cpu": "150m", "memory": "96Mi"})
    updater = start_updater()
    wait_until(lambda: _loops(updater) >= 3, timeout=30, what="three updater loops")
    pods = running_pods(cluster, namespace, 2)
    assert sorted(p["metadata"]["uid"] for p in pods) == sorted(
        p["metadata"]["uid"] for p in before
    )
    assert all(resources(p)[0] == {"requests": REQUESTS, "limits": LIMITS} for p in pods)
    assert 'tidal_updater_skips_total{reason="mode"} ' in updater.metrics()


def test_a_pod_disruption_budget_holds_the_eviction_back_until_it_allows_it(
    cluster: KubeCluster, namespace: str, start_updater: Any
) -> None:
    before = setup_workload(cluster, namespace, "Recreate", {"cpu": "150m", "memory": "96Mi"})
    pdb = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }  # fmt: skip
    apply(cluster, namespace, pdb)
    wait_until(
        lambda: cluster.get_json("pdb", "web", "-n", namespace).get("status", {})
        .get("currentHealthy") == 2,
        timeout=30, what="the PDB to count the pods",
    )  # fmt: skip
    updater = start_updater()
    blocked = 'tidal_updater_skips_total{reason="pod_disruption_budget"}'
    wait_until(lambda: blocked in updater.metrics(), timeout=30, what="a held-back eviction")
    pods = running_pods(cluster, namespace, 2)
    assert {p["metadata"]["uid"] for p in pods} == {p["metadata"]["uid"] for p in before}
    patch = json.dumps({"spec": {"minAvailable": 1}})
    cluster.kubectl("patch", "pdb", "web", "-n", namespace, "--type=merge", "-p", patch,
                    check=True)  # fmt: skip
    old = {p["metadata"]["uid"] for p in before}

    def replaced() -> bool:
        pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
        return any(p["metadata"]["uid"] not in old for p in pods)

    wait_until(replaced, timeout=60, what="the eviction once the PDB allows it")
    assert 'tidal_updater_evictions_total{mode="Recreate"}' in updater.metrics()


def test_dry_run_changes_nothing_and_says_what_it_would_do(
    cluster: KubeCluster, namespace: str, start_updater: Any
) -> None:
    before = setup_workload(cluster, namespace, "InPlaceOrRecreate",
                            {"cpu": "150m", "memory": "96Mi"})  # fmt: skip
    updater = start_updater("--dry-run")
    wait_until(lambda: "would resize" in updater.log.read_text(), timeout=30,
               what="a dry-run resize")  # fmt: skip
    pods = running_pods(cluster, namespace, 2)
    assert all(resources(p)[0] == {"requests": REQUESTS, "limits": LIMITS} for p in pods)
    assert {p["metadata"]["uid"] for p in pods} == {p["metadata"]["uid"] for p in before}
    text = " ".join(describe(cluster, namespace, "vpa", "web").split())
    assert "WouldResize" in text and "dry run: Resized cpu 100m -> 150m" in text


def _samples(metrics: str) -> str:
    """Only the sample lines (not HELP/TYPE)."""
    return "\n".join(line for line in metrics.splitlines() if not line.startswith("#"))


def _loops(updater: UpdaterProcess) -> int:
    for line in updater.metrics().splitlines():
        if line.startswith("tidal_updater_loop_duration_seconds_count"):
            return int(float(line.split()[-1]))
    return 0


def test_startup_boost_raised_at_creation_and_lowered_in_place_after_readiness(
    cluster: KubeCluster, tmp_path: Path
) -> None:
    with webhook_stack(cluster, tmp_path) as stack:
        namespace = stack_namespace(cluster, stack, "boost")
        boosted = vpa("web", "web", "InPlaceOrRecreate")
        boosted["spec"]["startupBoost"] = {
            "cpu": {"type": "Factor", "factor": 3, "durationSeconds": 3}
        }
        apply(cluster, namespace, boosted)
        set_recommendation(cluster, namespace, "web", {"app": {"cpu": "100m", "memory": "64Mi"}})
        workload = deployment("web", [container("app", REQUESTS, LIMITS)], replicas=1)

        def webhook_boosts() -> bool:
            code, admitted = dry_run(cluster, namespace, probe_pod(workload))
            if code != 0:
                return False
            return bool(admitted["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "300m")

        wait_for_webhook(webhook_boosts, "the webhook to see the VPA's boost")
        apply(cluster, namespace, workload)
        [created] = running_pods(cluster, namespace, 1)
        spec, status, _ = resources(created)
        assert spec["requests"]["cpu"] == "300m" and spec["limits"]["cpu"] == "600m"
        assert json.loads(created["metadata"]["annotations"]["tidal.dev/startup-boost"])["app"][
            "boosted"
        ] == "300m"
        updater = UpdaterProcess(cluster, namespace, tmp_path / "updater.log")
        try:

            def unboosted() -> dict[str, Any] | None:
                [pod] = running_pods(cluster, namespace, 1)
                done = resources(pod)[1].get("requests", {}).get("cpu") == "100m"
                return pod if done else None

            pod = wait_until(unboosted, timeout=60, what="the boost taken back in place")
        finally:
            updater.stop()
        spec, status, restarts = resources(pod)
        assert pod["metadata"]["uid"] == created["metadata"]["uid"] and restarts == 0
        assert spec["requests"]["cpu"] == "100m" and spec["limits"]["cpu"] == "200m"
        text = " ".join(describe(cluster, namespace, "pod", pod["metadata"]["name"]).split())
        assert "Resized cpu 300m -> 100m: InPlaceOrRecreate, startup boost over" in text
