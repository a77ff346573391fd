"""A Deployment scaled from 0 to 200 pods through the real kube-apiserver and
controller-manager while one of the webhook's workers is killed -9 mid-burst: every pod is
created sized. The replacement worker listens only once its caches have synced, and the
apiserver retries a call whose connection the dead worker reset."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.dev import WEBHOOK, DevStack
from tests.e2e.cluster import KubeCluster, wait_until
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

pytestmark = pytest.mark.e2e

PODS = 200
WORKERS = 2


@pytest.fixture(scope="module")
def stack(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[DevStack]:
    with webhook_stack(kube_cluster, tmp_path_factory.mktemp("tidal-burst"),
                       webhook_workers=WORKERS) as running:
        yield running


def workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()}


def test_a_worker_killed_mid_burst_leaves_no_pod_unsized(kube_cluster: KubeCluster,
                                                         stack: DevStack) -> None:
    ns = stack_namespace(kube_cluster, stack, "tidal-burst")
    web = deployment("web", [container("app", {"cpu": "100m", "memory": "64Mi"})], replicas=0)
    apply(kube_cluster, ns, vpa("web", "web"))
    set_recommendation(kube_cluster, ns, "web", {"app": {"cpu": "250m", "memory": "128Mi"}})
    apply(kube_cluster, ns, web)

    def sized_probe() -> bool:
        code, pod = dry_run(kube_cluster, ns, probe_pod(web))
        return code == 0 and "vpaUpdates" in (pod["metadata"].get("annotations") or {})

    wait_for_webhook(sized_probe, "the webhook to size a probe pod", confirmations=4)
    master = int(stack.read_state()[WEBHOOK]["pid"])
    before = wait_until(lambda: workers(master) if len(workers(master)) == WORKERS else None,
                        timeout=30, what="both webhook workers")
    proc = kube_cluster.kubectl("scale", "-n", ns, "deployment/web", f"--replicas={PODS}")
    assert proc.returncode == 0, proc.stderr

    def created() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kube_cluster.get_json(
            "pods", "-n", ns, "-l", "app=web")["items"]
        return items

    wait_until(lambda: len(created()) >= PODS // 10, timeout=60, interval=0.05,
               what="the burst to start")
    at_kill = len(created())
    os.kill(min(before), signal.SIGKILL)
    assert at_kill < PODS // 2  # mid-burst: most pods are still to come
    pods = wait_until(lambda: (lambda items: items if len(items) == PODS else None)(created()),
                      timeout=180, what=f"{PODS} pods")
    assert workers(master) != before  # the worker was replaced during the burst
    unsized = [p["metadata"]["name"] for p in pods
               if "vpaUpdates" not in (p["metadata"].get("annotations") or {})]
    assert not unsized, f"{len(unsized)} of {PODS} pods created unsized: {unsized[:5]}"
    for pod in pods:
        assert pod["spec"]["containers"][0]["resources"]["requests"] == {
            "cpu": "250m", "memory": "128Mi"}
