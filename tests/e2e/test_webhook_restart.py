"""A webhook worker killed -9 is replaced by one that listens only once its caches, listed and
watched from a real kube-apiserver, have synced: no admission meanwhile goes unsized because
the new worker did not know the VPA yet."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.cluster import KubeCluster, wait_until
from tests.e2e.tidal_stack import apply, container, deployment, set_recommendation, vpa
from tests.webhook.test_server import Server

pytestmark = pytest.mark.e2e

WORKERS = 2


def _review(pod: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()), "operation": "CREATE", "namespace": namespace,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": pod, "dryRun": False, "userInfo": {"username": "e2e"},
        },
    }  # fmt: skip


def _workers(server: Server) -> set[int]:
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def _listening(server: Server) -> int:
    """Sockets listening on the server's port (each worker opens its own once synced)."""
    port = f"{server.port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].rsplit(":", 1)[1] == port and fields[3] == "0A":  # 0A: LISTEN
                count += 1
    return count


def _all_listening(server: Server) -> bool:
    return len(_workers(server)) == WORKERS and _listening(server) >= WORKERS


@pytest.fixture
def sized_pod(kube_cluster: KubeCluster) -> tuple[dict[str, Any], str]:
    """A pod of Deployment web, whose VPA holds a recommendation, and its namespace."""
    namespace = f"tidal-restart-{uuid.uuid4().hex[:6]}"
    apply(kube_cluster, "", {"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": namespace}})  # fmt: skip
    proc = kube_cluster.kubectl("apply", "--server-side", "-k",
                                str(Path(__file__).resolve().parents[2] / "manifests" / "crds"))
    assert proc.returncode == 0, proc.stderr
    web = deployment("web", [container("app", {"cpu": "100m", "memory": "64Mi"})], replicas=1)
    apply(kube_cluster, namespace, web, vpa("web", "web"))
    set_recommendation(kube_cluster, namespace, "web", {"app": {"cpu": "250m", "memory": "128Mi"}})

    def replica_set() -> str:
        items = kube_cluster.get_json("rs", "-n", namespace, "-l", "app=web")["items"]
        return items[0]["metadata"]["name"] if items else ""

    rs = wait_until(replica_set, timeout=60, what="the ReplicaSet of web")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": f"{rs}-", "namespace": namespace, "labels": {"app": "web"},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": rs, "uid": str(uuid.uuid4()),
                                             "controller": True}]},
           "spec": web["spec"]["template"]["spec"]}  # fmt: skip
    return pod, namespace


def _sized(reply: requests.Response) -> bool:
    return reply.status_code == 200 and "patch" in reply.json()["response"]


class Admissions:
    """Threads admitting one pod over and over, each time on a fresh connection (spread over
    the workers' sockets); what each admission came to."""

    def __init__(self, server: Server, pod: dict[str, Any], namespace: str, threads: int = 4
                 ) -> None:
        self.server, self.pod, self.namespace = server, pod, namespace
        self.outcomes: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._admit) for _ in range(threads)]

    def __enter__(self) -> Admissions:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _admit(self) -> None:
        while not self.stop.is_set():
            with requests.Session() as fresh:
                fresh.trust_env = False
                fresh.verify = self.server.session.verify
                try:
                    reply = fresh.post(self.server.url + "/mutate?timeout=10s",
                                       data=json.dumps(_review(self.pod, self.namespace)),
                                       timeout=10)
                except requests.RequestException as exc:
                    self.outcomes.append(f"error {type(exc).__name__}: {exc}")
                    continue
            self.outcomes.append("sized" if _sized(reply) else
                                 str(reply.json()["response"].get("warnings")))


def _replaced(server: Server, before: set[int], timeout: float = 30.0) -> bool:
    """Whether every worker in ``before`` has been replaced by a new one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _workers(server)
        if len(now) == WORKERS and not now & before and _listening(server) >= WORKERS:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def server(kube_cluster: KubeCluster, tmp_path: Path, sized_pod: tuple[dict[str, Any], str]
           ) -> Iterator[Server]:
    """The webhook (2 workers) on the cluster's caches, sizing the pod, both workers listening."""
    pod, namespace = sized_pod
    running = Server(tmp_path, cluster=["--kubeconfig", str(kube_cluster.kubeconfig)],
                     workers=WORKERS, threads=2)
    try:
        wait_until(lambda: _sized(running.post("/mutate", _review(pod, namespace))), timeout=30,
                   what="the webhook to size the pod")
        wait_until(lambda: _all_listening(running), timeout=30, what="both workers listening")
        yield running
    finally:
        running.stop()


def test_a_replaced_worker_admits_only_with_synced_caches(
    server: Server, sized_pod: tuple[dict[str, Any], str]
) -> None:
    pod, namespace = sized_pod
    with Admissions(server, pod, namespace) as admissions:
        time.sleep(0.5)
        before = _workers(server)
        killed = min(before)
        os.kill(killed, signal.SIGKILL)
        replaced = _replaced(server, {killed})
        time.sleep(3)  # the replacement serves for a while
    assert replaced, server.output()
    outcomes = admissions.outcomes
    unsized = [o for o in outcomes if o != "sized" and not o.startswith("error")]
    assert len(outcomes) > 50 and not unsized, (len(outcomes), unsized[:5])
    # Connections the killed worker had accepted or queued die with it, at the kill: a few
    # per client thread at most, however loaded the machine.
    lost = [o for o in outcomes if o.startswith("error")]
    assert len(lost) <= 3 * len(admissions.threads), lost


def test_a_reload_keeps_the_old_workers_until_the_new_ones_listen(
    server: Server, sized_pod: tuple[dict[str, Any], str]
) -> None:
    """SIGHUP: the new workers open their sockets only once their caches have synced; the old
    ones serve until then, so no admission is refused or unsized during a reload."""
    pod, namespace = sized_pod
    with Admissions(server, pod, namespace) as admissions:
        time.sleep(0.5)
        before = _workers(server)
        os.kill(server.proc.pid, signal.SIGHUP)
        replaced = _replaced(server, before)
        time.sleep(2)
    assert replaced, server.output()
    outcomes = admissions.outcomes
    failed = [o for o in outcomes if o != "sized"]
    assert len(outcomes) > 50 and not failed, (len(outcomes), failed[:5])
