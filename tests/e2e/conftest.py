"""Fixtures for end-to-end tests against a real control plane (see tests/e2e/cluster.py).

``kube_cluster`` (session scope) builds the control plane if needed and starts it in a
temporary directory, or attaches to the cluster whose kubeconfig is in ``$TIDAL_KUBECONFIG``
(e.g. ``TIDAL_KUBECONFIG=.tidal/kubeconfig`` after ``make cluster-up``; never torn down).
Without Go, or when the build fails, e2e tests skip with the reason, except under
``CI=true`` where they fail: CI must never pass by skipping the cluster.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.e2e.cluster import ControlPlane, KubeCluster, StartFailed, wait_until
from tests.e2e.gobuild import BuildFailed, ToolchainMissing, ensure_built


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if _in_ci():
        pytest.fail(f"control plane unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"control plane unavailable: {reason}")


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A running kube-apiserver + kube-controller-manager + etcd on 127.0.0.1."""
    if existing := os.environ.get("TIDAL_KUBECONFIG"):
        path = Path(existing)
        if not path.is_file():
            pytest.fail(f"TIDAL_KUBECONFIG={existing} does not exist", pytrace=False)
        yield KubeCluster.from_kubeconfig(path.resolve())
        return
    try:
        binaries = ensure_built()
    except (ToolchainMissing, BuildFailed) as exc:
        _unavailable(str(exc))
    plane = ControlPlane.in_dir(tmp_path_factory.mktemp("kube"))
    plane.binaries = binaries
    started = time.monotonic()
    try:
        state = plane.up()
    except StartFailed as exc:
        pytest.fail(f"control plane did not start: {exc}", pytrace=False)
    plane.spawn_reaper(os.getpid())  # stops the cluster even if pytest gets killed
    cluster = KubeCluster(plane.kubeconfig, state["server"], plane.pki, plane.logs_dir)
    print(f"\ncontrol plane up in {time.monotonic() - started:.1f}s; logs in {plane.logs_dir}")
    try:
        yield cluster
    finally:
        plane.down(quiet=True)


@pytest.fixture(scope="session")
def kube_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A second control plane with kube-scheduler and one hollow node: pods run there.

    Its own cluster, so that the admission tests keep their Pending pods. The node has
    ``NODE_CPU`` cores and ``NODE_MEMORY``; its kubelet resizes pods in place for real.
    """
    try:
        binaries = ensure_built()
    except (ToolchainMissing, BuildFailed) as exc:
        _unavailable(str(exc))
    plane = ControlPlane.in_dir(tmp_path_factory.mktemp("kube-nodes"))
    plane.binaries, plane.nodes = binaries, 1
    try:
        state = plane.up()
    except StartFailed as exc:
        pytest.fail(f"control plane with nodes did not start: {exc}", pytrace=False)
    plane.spawn_reaper(os.getpid())
    try:
        yield KubeCluster(plane.kubeconfig, state["server"], plane.pki, plane.logs_dir)
    finally:
        plane.down(quiet=True)


def fresh_namespace(cluster: KubeCluster, prefix: str) -> str:
    """Create a namespace and wait for its ``default`` ServiceAccount (pods need it)."""
    base = "".join(c if c.isalnum() else "-" for c in prefix.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name, check=True)
    wait_until(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    return name


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (its ServiceAccount ready), deleted afterwards."""
    # Pods are rejected until the controllers create the namespace's `default` ServiceAccount.
    name = fresh_namespace(kube_cluster, request.node.name)
    try:
        yield name
    finally:
        kube_cluster.kubectl("delete", "namespace", name, "--wait=false")
