#!/usr/bin/env python3
"""Soak benchmark of the admission webhook: a steady admission rate through faults, one at a time.

Starts the real server as ``benchmarks/webhook_load.py`` does (``tidal-webhook serve`` over
TLS, 2 workers x 4 threads, a ``--state-file`` cluster, 127.0.0.1 only) and sends pod
admissions at a fixed rate (default 200/s) from many kept-alive connections. After a quiet
phase it injects, one at a time with a settling gap between:

* kill -9 of one worker, SIGHUP of the master (every worker replaced), SIGTERM of one worker,
* certificate rotation (new cert/key written in place, as the kubelet swaps a Secret),
* 200 connections trickling request headers a byte a second,
* 200 stalled TLS handshakes (half a ClientHello, then nothing),
* 500 idle TCP connections;

the floods are kept up for the whole phase (a connection the server closes is reopened) by a
separate process, so that they do not slow the measuring client. The client behaves like the
apiserver's Go transport: it does not reuse a kept-alive connection the server has closed,
and an admission fails when its request was sent and no 200 AdmissionReview came back.
Prints per phase the admissions attempted and failed, p50 and p99 latency, and each p99
against the quiet one. Targets: 0 failed admissions; p99 during the slow-client floods within
2x of the quiet p99. Bounded: about 2 minutes at the defaults.

    .venv/bin/python benchmarks/soak.py [--seconds-per-phase 12] [--rate 200]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from webhook_load import HOST, Server, cluster_objects, pod_review

from certs.pki import generate

FLOODS = {"slow-headers": 200, "stalled-handshakes": 200, "idle-connections": 500}
TARGET_FLOOD_P99_RATIO = 2.0
SLOW_HEAD = b"POST /mutate HTTP/1.1\r\nHost: tidal-webhook\r\nContent-Type: application/json\r\n"


@dataclass
class Sample:
    sent: float  # time.monotonic() when the request was sent
    seconds: float
    ok: bool


@dataclass
class Load:
    """Admissions at a fixed total rate over kept-alive connections, one thread each."""

    port: int
    context: ssl.SSLContext
    payload: bytes
    rate: float
    connections: int
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.connections):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _client(self, index: int) -> None:
        interval = self.connections / self.rate
        due = time.monotonic() + index * interval / self.connections
        conn = self._connect()
        while not self._stop.is_set():
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            due += interval
            if _closed_by_peer(conn):  # Go's transport drops such an idle connection
                conn.close()
            sent = time.monotonic()
            ok, error = self._admit(conn)
            sample = Sample(sent, time.monotonic() - sent, ok)
            with self._lock:
                self.samples.append(sample)
                if error:
                    self.errors[error] = self.errors.get(error, 0) + 1
            if not ok:
                conn.close()  # reconnects on the next request
        conn.close()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(HOST, self.port, context=self.context, timeout=10)

    def _admit(self, conn: http.client.HTTPSConnection) -> tuple[bool, str]:
        try:
            conn.request("POST", "/mutate?timeout=10s", self.payload,
                         {"Content-Type": "application/json"})  # fmt: skip
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return False, type(exc).__name__
        if response.status != 200:
            return False, f"HTTP {response.status}"
        try:
            ok = "patch" in json.loads(body)["response"]
        except (ValueError, KeyError, TypeError):
            ok = False
        return ok, "" if ok else "not a patched AdmissionReview"


def _closed_by_peer(conn: http.client.HTTPSConnection) -> bool:
    """An idle kept-alive connection is readable only when the server closed (or reset) it."""
    if conn.sock is None:
        return False
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


# -- faults ---------------------------------------------------------------------------------


def workers(server: Server) -> list[int]:
    """PIDs of the arbiter's live workers."""
    path = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    return sorted(int(pid) for pid in path.read_text().split())


def signal_worker(server: Server, signum: int) -> Callable[[], None]:
    def inject() -> None:
        os.kill(workers(server)[0], signum)

    return inject


def signal_master(server: Server, signum: int) -> Callable[[], None]:
    def inject() -> None:
        os.kill(server.proc.pid, signum)

    return inject


def rotate_certificate(server: Server, fresh: Path) -> Callable[[], None]:
    """Replace the served key and certificate in place, each file atomically (kubelet-like)."""

    def inject() -> None:
        for src, dst in ((fresh / "tls.key", server.pki.key), (fresh / "tls.crt", server.pki.cert)):
            staging = dst.with_name(f".{dst.name}.new")
            shutil.copy(src, staging)
            os.replace(staging, dst)

    return inject


def flood(port: int, kind: str, count: int, seconds: float) -> int:
    """Keep ``count`` connections of ``kind`` open for ``seconds`` (run as its own process)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # an attacker trusts any certificate
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    hello = b""
    if kind == "stalled-handshakes":
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=HOST)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        hello = outgoing.read()

    def open_one() -> socket.socket | None:
        try:
            raw = socket.create_connection((HOST, port), timeout=5)
            if kind == "slow-headers":
                tls = context.wrap_socket(raw, server_hostname=HOST)
                tls.sendall(SLOW_HEAD)
                return tls
            if kind == "stalled-handshakes":
                raw.sendall(hello[: len(hello) // 2])
            return raw
        except OSError:
            failures[0] += 1
            return None

    failures = [0]
    end = time.monotonic() + seconds
    conns: list[socket.socket | None] = [None] * count
    reopened = 0
    while time.monotonic() < end:
        for i, conn in enumerate(conns):
            if conn is not None and _closed(conn):
                conn.close()
                conn = None
                reopened += 1
            if conn is None:
                conn = conns[i] = open_one()
            elif kind == "slow-headers":
                with contextlib.suppress(OSError):
                    conn.sendall(b"X")
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    for conn in conns:
        if conn is not None:
            conn.close()
    print(json.dumps({"kind": kind, "count": count, "reopened after the server closed": reopened,
                      "failed to open": failures[0]}))  # fmt: skip
    return 0


def _closed(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        conn.setblocking(False)
        return conn.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            conn.setblocking(True)


def start_flood(server: Server, kind: str, count: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--flood", kind, "--count", str(count),
         "--seconds", f"{seconds:g}", "--port", str(server.port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


# -- the run --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds-per-phase", type=float, default=12.0)
    parser.add_argument("--gap", type=float, default=4.0, help="settling seconds between faults")
    parser.add_argument("--rate", type=float, default=200.0, help="admissions/s in total")
    parser.add_argument("--connections", type=int, default=32, help="kept-alive connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--flood", choices=sorted(FLOODS), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        return flood(args.port, args.flood, args.count, args.seconds)
    if not 2 <= args.seconds_per_phase <= 120 or not 1 <= args.rate <= 2000:
        parser.error("--seconds-per-phase must be 2-120 and --rate 1-2000")
    if not 1 <= args.connections <= 256 or not 0 <= args.gap <= 60:
        parser.error("--connections must be 1-256 and --gap 0-60")

    phase_seconds = args.seconds_per_phase
    with tempfile.TemporaryDirectory(prefix="tidal-webhook-soak-") as tmp:
        work = Path(tmp)
        state = work / "state.yaml"
        state.write_text(yaml.safe_dump_all(cluster_objects(200, 2000)))
        fresh = generate(work / "rotated", "tidal-webhook", "tidal-system", ips=[HOST])
        staged = work / "staged"
        staged.mkdir()
        shutil.copy(fresh.cert, staged / "tls.crt")
        shutil.copy(fresh.key, staged / "tls.key")
        server = Server(work, state, args.workers, args.threads)
        # The apiserver's caBundle holds both CAs while a certificate is rotated.
        context = ssl.create_default_context(cafile=str(server.pki.ca_cert))
        context.load_verify_locations(cafile=str(fresh.ca_cert))
        faults: list[tuple[str, Callable[[], None]]] = [
            ("kill -9 worker", signal_worker(server, signal.SIGKILL)),
            ("SIGHUP master", signal_master(server, signal.SIGHUP)),
            ("SIGTERM worker", signal_worker(server, signal.SIGTERM)),
            ("cert rotation", rotate_certificate(server, staged)),
        ]
        load = Load(server.port, context, json.dumps(pod_review()).encode(), args.rate,
                    args.connections)  # fmt: skip
        phases: list[tuple[str, float, float]] = []
        floods: list[str] = []
        try:
            load.start()
            time.sleep(2.0)  # warm up: every connection open
            start = time.monotonic()
            time.sleep(phase_seconds)
            phases.append(("quiet", start, time.monotonic()))
            plan: list[tuple[str, Callable[[], None] | str]] = [*faults]
            plan += [(f"{FLOODS[kind]} {kind}", kind) for kind in FLOODS]
            for name, fault in plan:
                time.sleep(args.gap)
                print(f"soak: {name}", file=sys.stderr)
                start = time.monotonic()
                proc = None
                if isinstance(fault, str):
                    proc = start_flood(server, fault, FLOODS[fault], phase_seconds)
                else:
                    fault()
                time.sleep(phase_seconds)
                phases.append((name, start, time.monotonic()))
                if proc is not None:
                    out, _ = proc.communicate(timeout=60)
                    floods.append(out.strip())
                if server.proc.poll() is not None:
                    raise SystemExit(f"the server exited during {name}")
        finally:
            load.stop()
            server.stop()
        log = (work / "server.log").read_text()

    rows = []
    for name, start, end in phases:
        window = [s for s in load.samples if start <= s.sent < end]
        latencies = [s.seconds * 1000 for s in window]
        rows.append({
            "phase": name, "attempted": len(window), "failed": sum(not s.ok for s in window),
            "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99),
        })  # fmt: skip
    quiet_p99 = rows[0]["p99_ms"]
    for row in rows:
        row["p99_vs_quiet"] = row["p99_ms"] / quiet_p99
    total_failed = sum(not s.ok for s in load.samples)
    print(f"webhook soak: {os.cpu_count()} cores, {args.workers} workers x {args.threads} threads, "
          f"{args.rate:g} admissions/s over {args.connections} kept-alive TLS connections, "
          f"{phase_seconds:g} s per phase, {args.gap:g} s between")  # fmt: skip
    print(f"{'phase':<28}{'attempted':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99/quiet':>11}")
    for row in rows:
        print(f"{row['phase']:<28}{row['attempted']:>10}{row['failed']:>8}{row['p50_ms']:>9.2f}"
              f"{row['p99_ms']:>9.2f}{row['p99_vs_quiet']:>10.2f}x")  # fmt: skip
    print(f"all admissions (gaps included): {len(load.samples)}, failed {total_failed}"
          + (f" ({load.errors})" if load.errors else ""))  # fmt: skip
    for line in floods:
        print(f"flood: {line}")
    flood_rows = [row for row in rows if any(kind in row["phase"] for kind in FLOODS)]
    targets = {
        "0 failed admissions": total_failed == 0,
        f"flood p99 within {TARGET_FLOOD_P99_RATIO:g}x of quiet": all(
            row["p99_vs_quiet"] <= TARGET_FLOOD_P99_RATIO for row in flood_rows
        ),
        "no 'Worker failed to boot'": "Worker failed to boot" not in log,
    }
    for name, ok in targets.items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"phases": rows, "targets": targets,
                                         "errors": load.errors}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
