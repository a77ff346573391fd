#!/usr/bin/env python3
"""Forecast benchmarks: the loop for 10k workloads, the external metrics API under the HPAs'
polling, and the replica backtest on the shared traces.

1. ``loop``: a :class:`~recommender.model.demand.DemandHistory` of 10,000 workloads with 8
   days of 5-minute demand; one loop = merging one metrics-API scrape (3 pods each) and
   forecasting all of them. Target: < 1 s.
2. ``api``: the real TLS server (:mod:`recommender.metrics_api.server`) with 10,000 published
   forecasts, loaded at 700 requests/s (10k HPAs polling every 15 s) through 8 keep-alive
   connections with the front-proxy certificate (``benchmarks/metrics-api-load``, Go), against
   ``/apis/external.metrics.k8s.io/...`` and the no-op ``/healthz`` on the same server, in
   alternating rounds. Target: metric p99 within 1.5x of the no-op's. SubjectAccessReviews are
   answered by a recorded allow (cached 10 s, so one per user and namespace per 10 s).
3. ``backtest``: ``backtest --replicas`` on ``../shared/traces`` (Bitbrains with p99/10
   replicas, target utilisation 0.8, cold starts 10 and 30 minutes; the GenAI trace's busy GPUs
   summed as one service at 1-minute steps). Target: under-capacity at most half the reactive
   HPA's at no more than 1.25x its replica-hours.

    .venv/bin/python benchmarks/forecast.py [--only loop|api|backtest] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommender.history import Samples  # noqa: E402
from recommender.metrics_api.auth import (  # noqa: E402
    Authenticator,
    Authorizer,
    RequestHeaderConfig,
)
from recommender.metrics_api.board import MetricBoard, MetricValue  # noqa: E402
from recommender.metrics_api.server import MetricsApiServer  # noqa: E402
from recommender.model.demand import DemandHistory  # noqa: E402
from tests.e2e.gobuild import build_tool  # noqa: E402
from tests.e2e.pki import certificate_pem, issue_certificate, make_ca, write_pem  # noqa: E402

WORKLOADS = 10_000
TRACES = ROOT.parent / "shared" / "traces"
LOAD_TOOL = ROOT / "benchmarks" / "metrics-api-load"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


def bench_loop(rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    history = DemandHistory(step_s=300.0)
    keys = [(f"ns-{i % 100}", f"Deployment/app-{i}", "cpu") for i in range(WORKLOADS)]
    history.track(keys)
    now = 1_790_000_000.0
    history._advance(int(now // 300))
    assert history.base is not None
    filled = int(now // 300) - history.base + 1
    for lo in range(0, WORKLOADS, 1000):  # in slices: no float64 copy of the whole history
        history.values[lo:lo + 1000, :filled] = rng.gamma(2.0, 0.5, (1000, filled))
    pods = [(ns, wl, f"{wl}-{p}") for ns, wl, _ in keys for p in range(3)]
    scrape = Samples.from_columns(
        np.full(len(pods), now + 30.0), [p[0] for p in pods], [p[1] for p in pods],
        [p[2] for p in pods], ["app"] * len(pods), ["cpu"] * len(pods),
        rng.gamma(2.0, 0.2, len(pods)))
    leads = [900.0 if i % 3 else 1800.0 for i in range(WORKLOADS)]
    add_s, forecast_s = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        history.add(scrape)
        add_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        values = history.forecast(now + 60.0, leads)
        forecast_s.append(time.perf_counter() - started)
    assert np.isfinite(values).all()
    result = {"add_s": min(add_s), "forecast_s": min(forecast_s),
              "loop_s": min(add_s) + min(forecast_s),
              "history_mib": history.values.nbytes / 2**20,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"loop, {WORKLOADS:,} workloads x 8 days of 5-minute demand: merge a scrape "
          f"{result['add_s']:.3f} s + forecast all {result['forecast_s']:.3f} s = "
          f"{result['loop_s']:.3f} s (target < 1 s); history {result['history_mib']:.0f} MiB, "
          f"peak RSS {result['peak_rss_mib']:.0f} MiB")
    return result


def _pki(root: Path) -> dict[str, Path]:
    proxy_ca, proxy_key = make_ca("front-proxy-ca")
    server_ca, server_key = make_ca("server-ca")
    files = {"proxy-ca.crt": certificate_pem(proxy_ca), "server-ca.crt": certificate_pem(server_ca)}
    for name, (ca, key, cn, server) in {"server": (server_ca, server_key, "tidal-metrics", True),
                                        "proxy": (proxy_ca, proxy_key, "front-proxy-client",
                                                  False)}.items():
        cert, leaf_key = issue_certificate(ca, key, cn, server=server, client=not server,
                                           ips=("127.0.0.1",) if server else ())
        files[f"{name}.crt"], files[f"{name}.key"] = cert, leaf_key
    for name, data in files.items():
        write_pem(root / name, data, private=name.endswith(".key"))
    return {name: root / name for name in files}


def bench_api(rounds: int, rate: float, seconds: float) -> dict[str, float]:
    tool = build_tool(LOAD_TOOL, "metrics-api-load")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = _pki(root)
        board = MetricBoard()
        now = time.time()
        board.publish("tidal_forecast", [
            MetricValue(f"ns-{i % 100}", {"workload": f"app-{i}", "kind": "Deployment",
                                          "signal": "cpu"}, 1.0 + i % 7, now)
            for i in range(WORKLOADS)])

        def allow(path: str, body: dict) -> dict:  # a recorded SubjectAccessReview answer
            return {**body, "status": {"allowed": True, "reason": "RBAC: allowed by "
                                       "ClusterRoleBinding system:controller:horizontal-pod-"
                                       "autoscaler"}}

        config = RequestHeaderConfig(ca_pem=pki["proxy-ca.crt"].read_text(),
                                     allowed_names=("front-proxy-client",))
        server = MetricsApiServer(board, Authenticator(config), Authorizer(allow),
                                  str(pki["server.crt"]), str(pki["server.key"]), "127.0.0.1",
                                  0).start()
        port = server.server_address[1]
        metric_paths = root / "metric.txt"
        metric_paths.write_text("\n".join(
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/ns-{i % 100}/tidal_forecast"
            f"?labelSelector=workload%3Dapp-{i}%2Csignal%3Dcpu" for i in range(WORKLOADS)))
        noop_paths = root / "noop.txt"
        noop_paths.write_text("/healthz\n")
        results: dict[str, list[dict]] = {"metric": [], "noop": []}
        try:
            for _ in range(rounds):
                for name, paths in (("noop", noop_paths), ("metric", metric_paths)):
                    out = subprocess.run(
                        [str(tool), "-base", f"https://127.0.0.1:{port}", "-paths", str(paths),
                         "-rate", str(rate), "-duration", f"{seconds}s", "-conns", "8",
                         "-cert", str(pki["proxy.crt"]), "-key", str(pki["proxy.key"]),
                         "-ca", str(pki["server-ca.crt"]), "-H", f"X-Remote-User: {HPA_USER}",
                         "-H", "X-Remote-Group: system:serviceaccounts"],
                        check=True, capture_output=True, text=True, timeout=seconds + 60)
                    results[name].append(json.loads(out.stdout))
        finally:
            server.stop()
    for name, runs in results.items():
        bad = [r for r in runs if r["errors"] or set(r["codes"]) != {"200"}]
        if bad:
            raise SystemExit(f"{name}: failed requests {bad}")
    p99 = {name: statistics.median(r["p99_ms"] for r in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(r["p50_ms"] for r in runs) for name, runs in results.items()}
    ratio = p99["metric"] / p99["noop"]
    print(f"external metrics API at {rate:g} requests/s ({WORKLOADS:,} forecasts, "
          f"{rounds} rounds of {seconds:g} s, median): tidal_forecast p50 {p50['metric']:.2f} ms "
          f"p99 {p99['metric']:.2f} ms; no-op /healthz p50 {p50['noop']:.2f} ms p99 "
          f"{p99['noop']:.2f} ms; ratio {ratio:.2f} (target <= 1.5)")
    return {"p99_metric_ms": p99["metric"], "p99_noop_ms": p99["noop"], "ratio": ratio}


def bench_backtest() -> None:
    cli = [sys.executable, "-m", "recommender"]
    with tempfile.TemporaryDirectory() as tmp:
        bb, genai = Path(tmp) / "bb.csv.gz", Path(tmp) / "genai.csv.gz"
        subprocess.run([*cli, "import", "--format", "bitbrains",
                        str(TRACES / "bitbrains-rnd" / "2013-8.csv.gz"), "--output", str(bb)],
                       check=True, cwd=ROOT, capture_output=True)
        subprocess.run([*cli, "import", "--format", "alibaba-genai",
                        str(TRACES / "alibaba-genai-2026"), "--workload",
                        "Deployment/sd-serving", "--output", str(genai)],
                       check=True, cwd=ROOT, capture_output=True)
        runs = [("Bitbrains, cpu", bb, ["--every", "5m", "--warmup", "2d"]),
                ("GenAI, busy GPUs", genai, ["--signal", "gpu", "--every", "1m",
                                             "--warmup", "1h"])]
        for label, history, extra in runs:
            for cold in ("10m", "30m"):
                out = subprocess.run([*cli, "backtest", "--history", str(history), "--replicas",
                                      "--cold-start", cold, "--format", "json", *extra],
                                     check=True, cwd=ROOT, capture_output=True, text=True)
                doc = json.loads(out.stdout)
                by = {s["name"]: s for s in doc["strategies"]}
                base = by["reactive"]
                cells = []
                for name in ("reactive", "tidal", "naive", "oracle"):
                    s = by[name]
                    cells.append(f"{name} {100 * s['under_capacity']:.2f}% "
                                 f"({s['under_capacity'] / base['under_capacity']:.2f}) "
                                 f"{s['replica_hours'] / base['replica_hours']:.2f}x")
                print(f"{label}, cold start {cold}: " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("loop", "api", "backtest"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=700.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.only in (None, "loop"):
        bench_loop(args.rounds)
    if args.only in (None, "api"):
        bench_api(args.rounds, args.rate, args.seconds)
    if args.only in (None, "backtest"):
        bench_backtest()


if __name__ == "__main__":
    main()
