"""Pod-creation latency through a real kube-apiserver: no webhook, Tidal's, upstream VPA's.

Four namespaces of one local control plane (``tests/e2e/cluster.py``), each with the same
Deployment, a VPA on it whose status holds a recommendation, and pods created one after the
other with a keep-alive client (latency, not throughput); each pod names the Deployment as its
controller, so the VPA webhooks size it and no controller touches it:

- ``none``: no mutating webhook matches the namespace (the floor);
- ``tidal``: Tidal's webhook as ``make dev`` runs it (``scripts/dev.py``: gunicorn, TLS,
  the webhook configurations of ``manifests/`` with a URL);
- ``noop``: a Go webhook that admits everything unchanged (``benchmarks/noop-webhook``, the
  standard library only): what the apiserver's own side of any webhook call costs;
- ``upstream``: the VPA admission controller built from ``k8s.io/autoscaler/
  vertical-pod-autoscaler`` (``benchmarks/upstream-vpa/go.mod``, into
  ``~/.cache/tidal/bin/upstream-vpa-<version>/``), on loopback with the same certificates,
  ``--register-webhook=false`` and a URL webhook configuration registered here, as upstream
  registers itself (pods CREATE, VPAs CREATE/UPDATE, failurePolicy Ignore).

Scenarios run in interleaved rounds (the machine is shared), after a warm-up. Each created pod
is checked for the recommendation, so a webhook that silently did nothing cannot look fast.

    .venv/bin/python benchmarks/e2e_admission.py [--pods 200] [--rounds 10] [--kubeconfig K]

Without ``--kubeconfig`` a throwaway control plane is started (and stopped) in a temp dir.
Target: Tidal adds at most 3 ms at p50 over ``none`` and is no slower than ``upstream``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.dev import (  # noqa: E402
    LOOPBACK,
    MUTATING_WEBHOOK,
    DevSettings,
    DevStack,
    popen_detached,
    stop_process,
    unscoped_tidal_webhooks,
)
from tests.e2e.cluster import ControlPlane, KubeCluster, free_port, wait_until  # noqa: E402
from tests.e2e.gobuild import build_tool, cache_dir, file_lock  # noqa: E402

UPSTREAM_DIR = REPO / "benchmarks" / "upstream-vpa"
UPSTREAM_MODULE = "k8s.io/autoscaler/vertical-pod-autoscaler"
UPSTREAM_PACKAGE = f"{UPSTREAM_MODULE}/pkg/admission-controller"
NOOP_DIR = REPO / "benchmarks" / "noop-webhook"
BENCH_LABEL = "tidal.dev/bench"
TARGET_P50_MS = 3.0
WARMUP = 20
VPA_GROUP, VPA_VERSION, VPA_PLURAL = "autoscaling.k8s.io", "v1", "verticalpodautoscalers"
RECOMMENDATION = {"cpu": "250m", "memory": "100Mi"}
JSON = "application/json"


# --------------------------------------------------------------------------- upstream


def upstream_version() -> str:
    """The upstream VPA version pinned in benchmarks/upstream-vpa/go.mod."""
    text = (UPSTREAM_DIR / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(UPSTREAM_MODULE)} (v\S+)", text, re.M)
    if match is None:
        raise SystemExit(f"{UPSTREAM_MODULE} is not pinned in {UPSTREAM_DIR / 'go.mod'}")
    return match.group(1)


def go_build(target: Path, package: str, cwd: Path, what: str) -> Path:
    """``go build`` ``package`` into ``target`` once (cached, file-locked across processes)."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / ".build.lock"):
        if not target.is_file():
            print(f"building {what} (once)...")
            started = time.monotonic()
            tmp = target.with_suffix(".tmp")
            subprocess.run(
                ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), package],
                cwd=cwd, check=True,
            )  # fmt: skip
            tmp.replace(target)
            print(f"built in {time.monotonic() - started:.0f}s: {target}")
    return target


def build_upstream(version: str) -> Path:
    """The upstream admission controller, built once per version (minutes on 2 cores)."""
    target = cache_dir() / "bin" / f"upstream-vpa-{version}" / "admission-controller"
    return go_build(target, UPSTREAM_PACKAGE, UPSTREAM_DIR, f"{UPSTREAM_PACKAGE}@{version}")


def build_noop() -> Path:
    """The no-op webhook, built once per version of its source."""
    return build_tool(NOOP_DIR, "noop-webhook")


# --------------------------------------------------------------------------- cluster objects


def labelled_namespace(cluster: KubeCluster, prefix: str, labels: dict[str, str]) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(ns), check=True)
    wait_until(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name).returncode == 0,
        timeout=60,
        what=f"the default ServiceAccount of {name}",
    )
    return name


def workload(api: Any, namespace: str) -> dict[str, Any]:
    """A Deployment (no replicas), a VPA with a recommendation; returns the pod template."""
    from kubernetes import client

    labels = {"app": "bench"}
    template_spec = {
        "containers": [{
            "name": "app", "image": "registry.invalid/bench:1",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}},
        }],
    }  # fmt: skip
    apps: Any = client.AppsV1Api(api)  # dict bodies and raw responses: untyped here
    deployment = apps.create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": template_spec}},
    })  # fmt: skip
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(VPA_GROUP, VPA_VERSION, namespace, VPA_PLURAL, {
        "apiVersion": f"{VPA_GROUP}/{VPA_VERSION}", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "bench"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bench"},
                 "updatePolicy": {"updateMode": "Recreate"}},
    })  # fmt: skip
    rec = {"containerName": "app", "target": RECOMMENDATION, "lowerBound": RECOMMENDATION,
           "upperBound": RECOMMENDATION, "uncappedTarget": RECOMMENDATION}  # fmt: skip
    custom.patch_namespaced_custom_object_status(
        VPA_GROUP, VPA_VERSION, namespace, VPA_PLURAL, "bench",
        {"status": {"recommendation": {"containerRecommendations": [rec]}}},
    )  # fmt: skip
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bench",
             "uid": deployment.metadata.uid, "controller": True}  # fmt: skip
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"labels": labels, "ownerReferences": [owner]},
        "spec": template_spec,
    }  # fmt: skip


def sized(pod: dict[str, Any]) -> bool:
    """Whether a webhook applied the recommendation (both write ``vpaUpdates``)."""
    annotations = pod["metadata"].get("annotations") or {}
    requests = pod["spec"]["containers"][0]["resources"]["requests"]
    return "vpaUpdates" in annotations and requests.get("cpu") == RECOMMENDATION["cpu"]


def upstream_configuration(
    name: str, port: int, ca_pem: bytes, labels: dict[str, str], webhook: str
):
    """What upstream's self-registration creates (by URL), limited to labelled namespaces."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": webhook, "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://{LOOPBACK}:{port}",
                             "caBundle": base64.b64encode(ca_pem).decode()},
            "rules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                 "resources": ["pods"]},
                {"apiGroups": [VPA_GROUP], "apiVersions": ["*"],
                 "operations": ["CREATE", "UPDATE"], "resources": [VPA_PLURAL]},
            ],
            "failurePolicy": "Ignore", "sideEffects": "None", "timeoutSeconds": 30,
            "namespaceSelector": {"matchLabels": labels},
        }],
    }  # fmt: skip


# --------------------------------------------------------------------------- measurement


@dataclass
class Scenario:
    """One namespace and the pods created in it."""

    name: str
    label: str
    namespace: str
    template: dict[str, Any]
    latencies_ms: list[float] = field(default_factory=list)
    mutated: int = 0
    created: int = 0
    webhook: str | None = None  # the mutating webhook's name, for the apiserver's metric
    webhook_ms: float | None = None  # mean duration of its calls as the apiserver saw them

    def create(self, api: Any, count: int, *, record: bool = True) -> None:
        from kubernetes import client

        core: Any = client.CoreV1Api(api)
        for _ in range(count):
            body = json.loads(json.dumps(self.template))
            body["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:10]}"
            started = time.perf_counter()
            resp = core.create_namespaced_pod(self.namespace, body, _preload_content=False)
            elapsed = (time.perf_counter() - started) * 1000
            pod = json.loads(resp.data)
            if record:
                self.latencies_ms.append(elapsed)
                self.created += 1
                self.mutated += sized(pod)


def wait_sizing(api: Any, namespace: str, template: dict[str, Any], what: str) -> None:
    """Until server-side dry-runs of the pod come back sized three times in a row."""
    from kubernetes import client

    core: Any = client.CoreV1Api(api)
    streak = 0

    def ready() -> bool:
        nonlocal streak
        body = json.loads(json.dumps(template))
        body["metadata"]["name"] = "probe"
        resp = core.create_namespaced_pod(namespace, body, dry_run="All", _preload_content=False)
        streak = streak + 1 if sized(json.loads(resp.data)) else 0
        return streak >= 3

    wait_until(ready, timeout=120, interval=0.2, what=what)


WEBHOOK_METRIC = "apiserver_admission_webhook_admission_duration_seconds"
UPSTREAM_WEBHOOK = "vpa.k8s.io"
NOOP_WEBHOOK = "noop.bench.tidal.dev"


def webhook_seconds(cluster: KubeCluster) -> dict[str, tuple[float, float]]:
    """(sum of seconds, calls) per webhook name, from the apiserver's own histogram."""
    text = cluster.kubectl("get", "--raw", "/metrics", check=True).stdout
    totals: dict[str, list[float]] = {}
    pattern = re.compile(rf'^{WEBHOOK_METRIC}_(sum|count)\{{[^}}]*name="([^"]+)"[^}}]*\}} (\S+)$')
    for line in text.splitlines():
        if match := pattern.match(line):
            entry = totals.setdefault(match.group(2), [0.0, 0.0])
            entry[0 if match.group(1) == "sum" else 1] += float(match.group(3))
    return {name: (total, calls) for name, (total, calls) in totals.items()}


def admission_review(scenario: Scenario) -> bytes:
    """An AdmissionReview for creating one of the scenario's pods, as the apiserver sends it."""
    pod = json.loads(json.dumps(scenario.template))
    pod["metadata"].update(name=f"direct-{uuid.uuid4().hex[:8]}", namespace=scenario.namespace)
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    request = {
        "uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr, "requestKind": gvk,
        "requestResource": gvr, "name": pod["metadata"]["name"],
        "namespace": scenario.namespace, "operation": "CREATE",
        "userInfo": {"username": "system:admin"}, "object": pod, "oldObject": None,
        "dryRun": False, "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }  # fmt: skip
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    return json.dumps(review).encode()


def direct_latencies(
    targets: dict[str, tuple[int, str, Scenario]], ca: Path, count: int, rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per POST of an AdmissionReview to each webhook, interleaved rounds."""
    context = ssl.create_default_context(cafile=str(ca))
    connections = {
        name: http.client.HTTPSConnection(LOOPBACK, port, context=context)
        for name, (port, _, _) in targets.items()
    }
    results: dict[str, list[float]] = {name: [] for name in targets}
    per_round = -(-count // rounds)
    for round_ in range(rounds + 1):  # round 0 warms the connections up
        for name, (_, path, scenario) in targets.items():
            for _ in range(WARMUP if round_ == 0 else per_round):
                body = admission_review(scenario)
                started = time.perf_counter()
                connections[name].request("POST", path, body, {"Content-Type": JSON})
                response = connections[name].getresponse()
                answer = json.loads(response.read())
                elapsed = (time.perf_counter() - started) * 1000
                if "patch" not in answer["response"]:
                    raise RuntimeError(f"{name} did not size the pod: {answer['response']}")
                if round_:
                    results[name].append(elapsed)
    for connection in connections.values():
        connection.close()
    return {name: values[:count] for name, values in results.items()}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def report(scenarios: list[Scenario], meta: dict[str, str]) -> bool:
    base = percentile(scenarios[0].latencies_ms, 50)
    rows = []
    for s in scenarios:
        p50, p99 = percentile(s.latencies_ms, 50), percentile(s.latencies_ms, 99)
        added = "" if s is scenarios[0] else f"{p50 - base:+.2f}"
        call = "" if s.webhook_ms is None else f"{s.webhook_ms:.2f}"
        rows.append((s.label, f"{p50:.2f}", f"{p99:.2f}", f"{np.mean(s.latencies_ms):.2f}",
                     f"{s.mutated}/{s.created}", added, call))  # fmt: skip
    header = ("pod CREATE through kube-apiserver", "p50 ms", "p99 ms", "mean ms", "sized",
              "p50 added", "webhook call mean ms")  # fmt: skip
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for key, value in meta.items():
        print(f"{key}: {value}")
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
    none, noop, tidal, upstream = scenarios
    tidal_p50, upstream_p50 = (
        percentile(tidal.latencies_ms, 50),
        percentile(upstream.latencies_ms, 50),
    )
    added_ok = tidal_p50 - base <= TARGET_P50_MS
    vs_upstream = tidal_p50 <= upstream_p50
    all_sized = tidal.mutated == tidal.created and upstream.mutated == upstream.created
    print()
    floor = percentile(noop.latencies_ms, 50) - base
    print(f"a webhook that does nothing adds {floor:+.2f} ms at p50 here (the apiserver's side); "
          f"Tidal {percentile(tidal.latencies_ms, 50) - base - floor:+.2f} ms on top of that, "
          f"upstream {percentile(upstream.latencies_ms, 50) - base - floor:+.2f} ms")  # fmt: skip
    verdict = {True: "yes", False: "NO"}
    print(
        f"target: Tidal adds <= {TARGET_P50_MS:g} ms at p50: {verdict[added_ok]} "
        f"({tidal_p50 - base:+.2f} ms); no slower than upstream at p50: {verdict[vs_upstream]} "
        f"({tidal_p50 - upstream_p50:+.2f} ms); every pod sized: {verdict[all_sized]}"
    )
    return added_ok and vs_upstream and all_sized


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def cluster_for(kubeconfig: Path | None, root: Path) -> Iterator[KubeCluster]:
    if kubeconfig is not None:
        yield KubeCluster.from_kubeconfig(kubeconfig.resolve())
        return
    plane = ControlPlane.in_dir(root)
    state = plane.up(verbose=True)
    try:
        yield KubeCluster(plane.kubeconfig, state["server"], plane.pki, plane.logs_dir)
    finally:
        plane.down(quiet=True)


@contextlib.contextmanager
def url_webhook(
    argv: list[str], webhook: str, port: int, cluster: KubeCluster, certs: Any, root: Path,
    labels: dict[str, str],
) -> Iterator[int]:
    """Run a webhook server on loopback and register it by URL for labelled namespaces."""
    binary = Path(argv[0]).name
    with open(root / f"{binary}.log", "ab") as out:
        proc = popen_detached(argv, out, dict(os.environ), root)
    name = f"{binary}-bench-{uuid.uuid4().hex[:6]}"
    config = upstream_configuration(name, port, certs.ca_cert.read_bytes(), labels, webhook)
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(config), check=True)
        yield port
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name, "--ignore-not-found")
        stop_process(proc.pid, binary)


def upstream_webhook(
    binary: Path, cluster: KubeCluster, certs: Any, root: Path, labels: dict[str, str]
) -> contextlib.AbstractContextManager[int]:
    """Upstream's admission controller, registered as its self-registration would."""
    port, metrics = free_port(), free_port()
    argv = [
        str(binary), f"--kubeconfig={cluster.kubeconfig}",
        f"--client-ca-file={certs.ca_cert}", f"--tls-cert-file={certs.cert}",
        f"--tls-private-key={certs.key}", f"--port={port}", f"--address={LOOPBACK}:{metrics}",
        "--register-webhook=false", f"--webhook-address=https://{LOOPBACK}",
        f"--webhook-port={port}", "--v=0",
    ]  # fmt: skip
    return url_webhook(argv, UPSTREAM_WEBHOOK, port, cluster, certs, root, labels)


def noop_webhook(
    binary: Path, cluster: KubeCluster, certs: Any, root: Path, labels: dict[str, str]
) -> contextlib.AbstractContextManager[int]:
    """The no-op webhook with the same certificates."""
    port = free_port()
    argv = [str(binary), f"--addr={LOOPBACK}:{port}", f"--cert={certs.cert}",
            f"--key={certs.key}"]  # fmt: skip
    return url_webhook(argv, NOOP_WEBHOOK, port, cluster, certs, root, labels)


def run(args: argparse.Namespace) -> int:
    version = upstream_version()
    binary = build_upstream(version)
    noop = build_noop()
    with tempfile.TemporaryDirectory(prefix="tidal-e2e-admission-") as tmp:
        root = Path(tmp)
        with cluster_for(args.kubeconfig, root / "kube") as cluster:
            return measure(args, cluster, binary, noop, version, root)


def measure(
    args: argparse.Namespace,
    cluster: KubeCluster,
    binary: Path,
    noop: Path,
    version: str,
    root: Path,
) -> int:
    from kubernetes import config as kube_config

    bench_id = uuid.uuid4().hex[:6]
    tidal_labels = {BENCH_LABEL: f"tidal-{bench_id}"}
    upstream_labels = {BENCH_LABEL: f"upstream-{bench_id}"}
    noop_labels = {BENCH_LABEL: f"noop-{bench_id}"}
    stack = DevStack(DevSettings(
        kubeconfig=cluster.kubeconfig, state_dir=root / "dev", logs_dir=root / "logs",
        config_name=f"tidal-bench-{bench_id}", namespace_labels=tidal_labels, recommender=False,
    ))  # fmt: skip
    if foreign := unscoped_tidal_webhooks(cluster):
        raise SystemExit(
            f"{', '.join(foreign)} send every namespace to a Tidal webhook: `make dev-down` first"
        )
    api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
    namespaces: list[str] = []
    try:
        stack.up()
        with (
            upstream_webhook(binary, cluster, stack.certs, root, upstream_labels) as port,
            noop_webhook(noop, cluster, stack.certs, root, noop_labels),
        ):
            scenarios = []
            for name, label, labels, webhook in (
                ("none", "no mutating webhook", {BENCH_LABEL: f"none-{bench_id}"}, None),
                ("noop", "no-op webhook (Go net/http, TLS)", noop_labels, NOOP_WEBHOOK),
                ("tidal", "Tidal webhook (make dev: gunicorn 2x4 threads, TLS)", tidal_labels,
                 MUTATING_WEBHOOK),
                ("upstream", f"upstream VPA admission-controller {version}", upstream_labels,
                 UPSTREAM_WEBHOOK),
            ):  # fmt: skip
                namespace = labelled_namespace(cluster, f"bench-{name}", labels)
                namespaces.append(namespace)
                scenarios.append(Scenario(name, label, namespace, workload(api, namespace)))
                scenarios[-1].webhook = webhook
            sizing = [s for s in scenarios if s.name in ("tidal", "upstream")]
            for scenario in sizing:
                wait_sizing(api, scenario.namespace, scenario.template, f"{scenario.name} sizing")
            for scenario in scenarios:
                scenario.create(api, WARMUP, record=False)
            per_round = -(-args.pods // args.rounds)
            load_before, calls_before = os.getloadavg()[0], webhook_seconds(cluster)
            for _ in range(args.rounds):
                for scenario in scenarios:
                    left = args.pods - scenario.created
                    scenario.create(api, min(per_round, left))
            load_after, calls_after = os.getloadavg()[0], webhook_seconds(cluster)
            direct = direct_latencies(
                {"Tidal": (stack.webhook_port or 0, "/mutate", sizing[0]),
                 "upstream": (port, "/", sizing[1])},
                stack.certs.ca_cert, args.pods, args.rounds,
            )  # fmt: skip
            for scenario in scenarios[1:]:
                total, calls = np.subtract(
                    calls_after.get(scenario.webhook or "", (0.0, 0.0)),
                    calls_before.get(scenario.webhook or "", (0.0, 0.0)),
                )
                scenario.webhook_ms = 1000 * total / calls if calls else None
    finally:
        for namespace in namespaces:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        stack.down()
    meta = {
        "cluster": f"kube-apiserver {server_version(cluster)} on {LOOPBACK} ({cluster.server})",
        "pods": f"{args.pods} per scenario, sequential, {args.rounds} interleaved rounds, "
        f"{WARMUP} warm-up pods each",
        "load average (1 min)": f"{load_before:.1f} before, {load_after:.1f} after "
        f"({os.cpu_count()} cores, shared)",
    }
    ok = report(scenarios, meta)
    print("\nthe same pod's AdmissionReview POSTed straight to each webhook (Python keep-alive "
          "client, no apiserver):")  # fmt: skip
    for name, values in direct.items():
        print(
            f"  {name:9} p50 {percentile(values, 50):6.2f} ms"
            f"   p99 {percentile(values, 99):6.2f} ms"
        )
    return 0 if ok or not args.check else 1


def server_version(cluster: KubeCluster) -> str:
    """The Kubernetes release the harness pins (binaries built from modules say v0.0.0)."""
    text = (REPO / "tests" / "e2e" / "controlplane" / "go.mod").read_text()
    match = re.search(r"^\s*k8s.io/kubernetes (v\S+)", text, re.M)
    return match.group(1) if match else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=200, help="pods per scenario (200)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (10)")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (default: start one)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
