#!/usr/bin/env python3
"""Fuzz benchmark of the admission webhook: 100,000 generated bodies over real HTTPS.

Starts the real server as ``benchmarks/webhook_load.py`` does (``tidal-webhook serve`` over
TLS, 2 workers x 4 threads, 127.0.0.1 only) with the fuzzer's cluster state (two namespaces,
a VPA with RequestsAndLimits, one with RequestsOnly and a LimitRange, an HPA: pods get
patched), then sends the bodies of ``tests/webhook/fuzzing.py``'s seeded generator (pods,
HPAs, VPAs, mangled JSON; chunked or not; any Content-Type) from kept-alive connections and
checks every answer: no 5xx, no hang (a per-request timeout), every 200 an AdmissionReview
for the request's uid whose patch applies. Prints the counts and examples of any failure;
exits 1 when there is one. Bounded by ``--max-seconds``.

    .venv/bin/python benchmarks/fuzz.py [--bodies 100000] [--seed 15] [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml
from webhook_load import ROOT, Server

sys.path.insert(0, str(ROOT))

from tests.webhook import fuzzing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidal-fuzz-") as tmp:
        work = Path(tmp)
        state = work / "cluster.yaml"
        state.write_text(yaml.safe_dump_all(fuzzing.cluster_objects()))
        server = Server(work, state, workers=2, threads=4)
        started = time.monotonic()
        try:
            tally = fuzzing.run(
                server.port, str(server.pki.ca_cert), args.bodies, seed=args.seed,
                connections=args.connections, timeout=args.timeout,
                max_seconds=args.max_seconds,
                progress=lambda t: print(f"  {t.sent} sent, {time.monotonic() - started:.0f} s",
                                         flush=True),
            )  # fmt: skip
        finally:
            server.stop()
        log = (work / "server.log").read_text(errors="replace")
    print(f"webhook fuzz, seed {args.seed}, {args.connections} connections, "
          f"timeout {args.timeout:g} s per request")  # fmt: skip
    print(fuzzing.summary(tally))
    print(f"server log: {log.count(' failed open: ')} fail-open lines, "
          f"{log.count('Traceback')} tracebacks")  # fmt: skip
    causes = collections.Counter(
        (m.group(1), m.group(2)) for m in re.finditer(
            r" failed open: (\w+): .*? \(at ([\w.]+:\d+)\)", log))
    for (kind, where), count in causes.most_common(10):
        print(f"  fail-open {kind} at {where}: {count}")
    complete = tally.sent == args.bodies
    if not complete:
        print(f"stopped at --max-seconds after {tally.sent} of {args.bodies} bodies")
    return 0 if tally.failures == 0 and tally.hangs == 0 and complete else 1


if __name__ == "__main__":
    sys.exit(main())
