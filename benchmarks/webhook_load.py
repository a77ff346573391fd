#!/usr/bin/env python3
"""Load benchmark of the admission webhook: pod mutation vs a no-op endpoint, over TLS.

Starts the real server (gunicorn, 2 workers x 4 threads, TLS with throwaway
certificates, ``--state-file`` caches warm with a busy namespace: many VPAs and ReplicaSets),
then loads ``POST /mutate`` and ``POST /noop`` (an AdmissionReview echo on the same server,
the floor) with keep-alive connections from 127.0.0.1 only:

* at a fixed rate (default 1,000 admissions/s) with ``hey`` (Debian package ``hey``),
* unthrottled with ``wrk`` (Debian package ``wrk``), and
* sequentially on one connection with ``hey -c 1`` (the apiserver's pattern under light load;
  hey reports latencies to 0.1 ms),

falling back to a Python keep-alive client pool when a tool is missing. Every phase is bounded
in time. Targets: p99 < 5 ms at 1,000 admissions/s, handler within 1.5x of the no-op.

    .venv/bin/python benchmarks/webhook_load.py [--rate 1000] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from certs.pki import generate  # noqa: E402

HOST = "127.0.0.1"
CONNECTIONS = 8
TARGET_P99_MS = 5.0
TARGET_RATIO = 1.5


def pod_review(uid: str = "bench-0001") -> dict[str, Any]:
    """A pod as a ReplicaSet creates it, two containers, in an AdmissionReview."""

    def container(name: str, cpu: str, memory: str) -> dict[str, Any]:
        return {
            "name": name,
            "image": f"registry.example/{name}:1.0",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "prod"}],
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
            "volumeMounts": [{"name": "token", "mountPath": "/var/run/secrets", "readOnly": True}],
            "terminationMessagePath": "/dev/termination-log",
            "imagePullPolicy": "IfNotPresent",
        }

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-7d9f8b6c5d-",
            "namespace": "default",
            "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9f8b6c5d",
                    "uid": "1b2c",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [container("app", "100m", "128Mi"), container("proxy", "50m", "64Mi")],
            "volumes": [{"name": "token", "projected": {"sources": []}}],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
            ],
        },
        "status": {},
    }
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def cluster_objects(vpas: int, replica_sets: int) -> list[dict[str, Any]]:
    """A busy namespace: the pod's VPA among ``vpas`` others, and many ReplicaSets."""
    objects: list[dict[str, Any]] = []
    for i in range(vpas):
        name = "web" if i == 0 else f"svc-{i}"
        objects.append(
            {
                "apiVersion": "autoscaling.k8s.io/v1",
                "kind": "VerticalPodAutoscaler",
                "metadata": {
                    "name": f"{name}-vpa",
                    "namespace": "default",
                    "creationTimestamp": "2026-11-01T00:00:00Z",
                },
                "spec": {
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "updatePolicy": {"updateMode": "Recreate"},
                    "resourcePolicy": {
                        "containerPolicies": [{"containerName": "*", "maxAllowed": {"cpu": "2"}}]
                    },
                },
                "status": {
                    "recommendation": {
                        "containerRecommendations": [
                            {"containerName": c, "target": {"cpu": "250m", "memory": "300Mi"}}
                            for c in ("app", "proxy")
                        ]
                    }
                },
            }
        )
    for i in range(replica_sets):
        name = "web" if i == 0 else f"svc-{i % max(vpas, 1)}"
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": "web-7d9f8b6c5d" if i == 0 else f"{name}-{i:010x}",
                    "namespace": "default",
                    "ownerReferences": [
                        {"kind": "Deployment", "name": name, "controller": True, "uid": "d"}
                    ],
                },
            }
        )
    return objects


class Server:
    """The webhook under gunicorn, as ``tidal-webhook serve`` starts it."""

    def __init__(self, work: Path, state_file: Path, workers: int, threads: int) -> None:
        self.pki = generate(work / "pki", "tidal-webhook", "tidal-system", ips=[HOST])
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env["PYTHONPATH"] = str(ROOT)
        self.log = open(work / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "webhook", "serve", "--cert", str(self.pki.cert),
                "--key", str(self.pki.key), "--bind", HOST, "--port", str(self.port),
                "--state-file", str(state_file), "--workers", str(workers),
                "--threads", str(threads), "--noop-endpoint", "--log-level", "warning",
            ],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited; see {work / 'server.log'}")
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("server did not become ready")

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(HOST, self.port, context=self.context(), timeout=5)
        try:
            conn.request(method, path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_hey(
    url: str, body: Path, rate: int | None, seconds: float, connections: int = CONNECTIONS
) -> dict[str, float]:
    """hey with ``connections`` workers: at ``rate`` in total, or back to back (None)."""
    pace = ["-q", str(max(1, round(rate / connections)))] if rate else []
    out = subprocess.run(
        ["hey", "-z", f"{seconds:g}s", "-c", str(connections), *pace, "-m", "POST",
         "-T", "application/json", "-D", str(body), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip

    def pct(p: str) -> float:
        match = re.search(rf"{p}% in ([\d.]+) secs", out)
        return float(match.group(1)) * 1000 if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    errors = sum(int(n) for code, n in codes if code != "200")
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "errors": float(errors)}  # fmt: skip


def run_wrk(url: str, body: Path, seconds: float) -> dict[str, float]:
    """Unthrottled with wrk: 2 threads, CONNECTIONS keep-alive connections."""
    script = body.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()\n'
    )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip

    def ms(p: str) -> float:
        match = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}  # fmt: skip


def run_python(
    server: Server,
    path: str,
    payload: bytes,
    rate: int | None,
    seconds: float,
    connections: int = CONNECTIONS,
) -> dict[str, float]:
    """Fallback load: keep-alive connections, one thread each (paced when ``rate``)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    end = start + seconds

    def worker(index: int) -> None:
        conn = http.client.HTTPSConnection(HOST, server.port, context=server.context(), timeout=5)
        interval = connections / rate if rate else 0.0
        due = start + index * (interval / connections if rate else 0.0)
        mine: list[float] = []
        while True:
            now = time.perf_counter()
            if rate and now < due:
                time.sleep(due - now)
            if time.perf_counter() >= end:
                break
            sent = time.perf_counter()
            conn.request("POST", path, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - sent)
            if response.status != 200:
                with lock:
                    errors[0] += 1
            due += interval
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    latencies.sort()
    if not latencies:
        return {"rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": 0.0}
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": float(errors[0]),
    }


def in_process(
    payload: bytes, objects: list[dict[str, Any]], seconds: float = 2.0
) -> dict[str, float]:
    """Microseconds per call without HTTP/TLS: decode + admit vs decode + allow (the no-op)."""
    from webhook import review as rv
    from webhook.admission import admit
    from webhook.state import ClusterState

    state = ClusterState.from_objects(objects)
    calls = {
        "noop_us": lambda: rv.allow(rv.decode(payload)["request"]["uid"]),
        "admit_us": lambda: admit(rv.decode(payload), state, mutating=True),
    }
    out: dict[str, float] = {}
    for name, call in calls.items():
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(100):
                call()
            count += 100
        out[name] = (time.perf_counter() - start) / count * 1e6
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="fixed rate, admissions/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--vpas", type=int, default=200, help="VPAs in the pod's namespace")
    parser.add_argument("--replica-sets", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tool", choices=["auto", "python"], default="auto",
                        help="auto: hey and wrk if installed, else Python clients")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 1 <= args.rate <= 20000 or not 1 <= args.rounds <= 10:
        parser.error("--seconds must be 1-120, --rate 1-20000 and --rounds 1-10")

    use_hey = args.tool == "auto" and shutil.which("hey") is not None
    use_wrk = args.tool == "auto" and shutil.which("wrk") is not None
    results: dict[str, Any] = {
        "rate": args.rate, "seconds": args.seconds, "rounds": args.rounds,
        "connections": CONNECTIONS,
        "workers": args.workers, "threads": args.threads, "cores": os.cpu_count(),
        "fixed_rate_tool": "hey" if use_hey else "python",
        "max_tool": "wrk" if use_wrk else "python",
        "phases": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tidal-webhook-bench-") as tmp:
        work = Path(tmp)
        state = work / "state.yaml"
        state.write_text(yaml.safe_dump_all(cluster_objects(args.vpas, args.replica_sets)))
        body = work / "pod-review.json"
        payload = json.dumps(pod_review()).encode()
        body.write_bytes(payload)
        results["in_process"] = in_process(payload, cluster_objects(args.vpas, args.replica_sets))
        server = Server(work, state, args.workers, args.threads)
        try:
            status, answer = server.request("POST", "/mutate", payload)
            response = json.loads(answer)["response"]
            if status != 200 or "patch" not in response:
                raise SystemExit(f"warm-up admission did not patch the pod: {answer[:300]!r}")
            for path in ("/noop", "/mutate"):  # warm both workers and connection paths
                run_python(server, path, payload, None, 1.0)
            rounds: dict[str, list[dict[str, float]]] = {}
            # Alternate the endpoints, round after round, so that a change in background load
            # hits both alike; each figure is the median over the rounds.
            for _ in range(args.rounds):
                for path in ("/noop", "/mutate"):
                    url = f"https://{HOST}:{server.port}{path}"
                    name = path.strip("/")
                    fixed = (
                        run_hey(url, body, args.rate, args.seconds)
                        if use_hey
                        else run_python(server, path, payload, args.rate, args.seconds)
                    )
                    rounds.setdefault(f"{name}@{args.rate}/s", []).append(fixed)
                    unthrottled = (
                        run_wrk(url, body, args.seconds)
                        if use_wrk
                        else run_python(server, path, payload, None, args.seconds)
                    )
                    rounds.setdefault(f"{name}@max", []).append(unthrottled)
                    # One connection, one request at a time: the apiserver under light load.
                    sequential = (
                        run_hey(url, body, None, args.seconds, connections=1)
                        if use_hey
                        else run_python(server, path, payload, None, args.seconds, connections=1)
                    )
                    rounds.setdefault(f"{name}@sequential", []).append(sequential)
            results["rounds"] = rounds
            results["phases"] = {
                name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                for name, runs in rounds.items()
            }
        finally:
            server.stop()

    phases = results["phases"]
    noop_fixed, mutate_fixed = phases[f"noop@{args.rate}/s"], phases[f"mutate@{args.rate}/s"]
    noop_max, mutate_max = phases["noop@max"], phases["mutate@max"]
    results["ratios"] = {
        "p50_at_rate": mutate_fixed["p50_ms"] / noop_fixed["p50_ms"],
        "p99_at_rate": mutate_fixed["p99_ms"] / noop_fixed["p99_ms"],
        "throughput": noop_max["rps"] / mutate_max["rps"] if mutate_max["rps"] else float("inf"),
    }
    results["targets"] = {
        f"mutate p99 < {TARGET_P99_MS} ms at {args.rate}/s": mutate_fixed["p99_ms"] < TARGET_P99_MS,
        f"mutate p50 within {TARGET_RATIO}x of no-op at {args.rate}/s": results["ratios"][
            "p50_at_rate"
        ]
        <= TARGET_RATIO,
        f"mutate throughput within {TARGET_RATIO}x of no-op": results["ratios"]["throughput"]
        <= TARGET_RATIO,
    }
    print(f"webhook load: {os.cpu_count()} cores, {CONNECTIONS} keep-alive TLS connections, "
          f"{args.workers} workers x {args.threads} threads, median of {args.rounds} rounds "
          f"of {args.seconds:g} s per phase; "
          f"fixed rate by {results['fixed_rate_tool']}, max by {results['max_tool']}")  # fmt: skip
    print(f"{'phase':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, phase in phases.items():
        print(f"{name:<18}{phase['rps']:>10.0f}{phase['p50_ms']:>10.2f}{phase['p99_ms']:>10.2f}"
              f"{phase['errors']:>8.0f}")  # fmt: skip
    inproc = results["in_process"]
    print(f"in-process, one core: decode+admit {inproc['admit_us']:.0f} us, "
          f"decode+allow (no-op) {inproc['noop_us']:.0f} us")  # fmt: skip
    if hasattr(os, "getloadavg"):
        load = results["load_average"] = os.getloadavg()
        print(f"load average at the end (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for name, value in results["ratios"].items():
        print(f"mutate / no-op {name}: {value:.2f}x")
    for name, ok in results["targets"].items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
