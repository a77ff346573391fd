"""With the webhook process gone, the apiserver applies the failurePolicy of ``manifests/``:
pods are still created (Ignore, unchanged), HPAs and VPAs are refused (Fail)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.dev import WEBHOOK
from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.tidal_stack import (
    VALIDATING_WEBHOOK,
    apply,
    container,
    deployment,
    dry_run,
    hpa,
    probe_pod,
    set_recommendation,
    stack_namespace,
    vpa,
    wait_for_webhook,
    webhook_stack,
    write_file,
)

pytestmark = pytest.mark.e2e

APP = deployment("app", [container("app", {"cpu": "100m", "memory": "64Mi"})], replicas=2)


@pytest.fixture(scope="module")
def stopped(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, str]]:
    """A namespace whose webhook sized pods a moment ago, then was stopped."""
    root = tmp_path_factory.mktemp("tidal-failure-policy")
    with webhook_stack(kube_cluster, root) as stack:
        namespace = stack_namespace(kube_cluster, stack, "tidal-stopped")
        apply(kube_cluster, namespace, vpa("app", "app"))
        set_recommendation(kube_cluster, namespace, "app", {"app": {"cpu": "1", "memory": "1Gi"}})

        def sized() -> bool:
            code, pod = dry_run(kube_cluster, namespace, probe_pod(APP))
            return code == 0 and "vpaUpdates" in (pod["metadata"].get("annotations") or {})

        wait_for_webhook(sized, "the webhook to size a probe pod")
        port = stack.webhook_port
        assert port is not None and stack.stop(WEBHOOK)
        yield port, namespace


def test_pods_are_still_created_unchanged(
    kube_cluster: KubeCluster, stopped: tuple[int, str]
) -> None:
    _, namespace = stopped
    apply(kube_cluster, namespace, APP)

    def created() -> list[dict[str, Any]]:
        items = kube_cluster.get_json("pods", "-n", namespace, "-l", "app=app")["items"]
        return items if len(items) == 2 else []

    for pod in wait_until(created, timeout=60, what="2 pods of app"):
        assert pod["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "100m", "memory": "64Mi"}
        }
        assert "vpaUpdates" not in (pod["metadata"].get("annotations") or {})


@pytest.mark.parametrize(
    ("kind", "obj"), [("hpa", hpa("app", "app", "memory")), ("vpa", vpa("other", "other"))]
)
def test_hpa_and_vpa_creation_fails(
    kube_cluster: KubeCluster,
    stopped: tuple[int, str],
    tmp_path: Path,
    kind: str,
    obj: dict[str, Any],
) -> None:
    port, namespace = stopped
    path = write_file(tmp_path, f"{kind}.yaml", obj)

    proc = kube_cluster.kubectl("apply", "-n", namespace, "-f", str(path))

    assert proc.returncode == 1
    url = f"https://127.0.0.1:{port}/validate?timeout=5s"  # timeoutSeconds of manifests/
    assert proc.stderr == (
        f'Error from server (InternalError): error when creating "{path}": Internal error '
        f'occurred: failed calling webhook "{VALIDATING_WEBHOOK}": failed to call webhook: '
        f'Post "{url}": dial tcp 127.0.0.1:{port}: connect: connection refused\n'
    )
    name = obj["metadata"]["name"]
    assert kube_cluster.kubectl("get", kind, name, "-n", namespace).returncode != 0
