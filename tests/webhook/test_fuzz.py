"""Fuzzed AdmissionReview bodies against the real webhook (gunicorn, TLS, a cluster state):
no 5xx, no hang, every 200 a valid AdmissionReview whose patch applies (``fuzzing.py``).
``benchmarks/fuzz.py`` runs the same generator at 100,000 bodies and more."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from . import fuzzing
from .test_server import Server

pytestmark = pytest.mark.slow

BODIES = 3000


def test_fuzzed_bodies_get_valid_answers(tmp_path: Path) -> None:
    state = tmp_path / "cluster.yaml"
    state.write_text(yaml.safe_dump_all(fuzzing.cluster_objects()))
    server = Server(tmp_path, cluster=["--state-file", str(state)], workers=2, threads=4)
    try:
        tally = fuzzing.run(
            server.port, str(server.pki.ca_cert), BODIES, seed=15, connections=4, max_seconds=120
        )
        output = server.output()
    finally:
        code = server.stop()
    report = fuzzing.summary(tally)
    assert code == 0, output
    assert tally.sent == BODIES, report
    assert tally.failures == 0 and tally.hangs == 0, report
    assert not any(status >= 500 for status in tally.by_status), report
    # The generator reaches the handlers: pods are patched, reviews answered and refused.
    assert tally.by_outcome["patched"] > BODIES // 10, report
    assert tally.by_outcome["valid"] > BODIES // 10, report
    assert tally.by_outcome["error answer"] > BODIES // 20, report
    # Odd shapes (a container list that is a string, a name that is a map, 1,000-deep values)
    # are answered without an internal error: nothing failed open.
    assert " failed open: " not in output, output[-2000:]
