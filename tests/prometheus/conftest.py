"""A real Prometheus server (Debian package ``prometheus``) with backfilled history.

The data is written as OpenMetrics and turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics`` before the server starts on a free
127.0.0.1 port with a temporary data directory. Without the binaries the tests skip (and
fail under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.prometheus.backfill import DAY, HOUR, openmetrics

HISTORY_DAYS = 8.5


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    end: float  # last backfilled timestamp (a whole hour)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        reason = f"{binary} not installed (apt-get install -y prometheus)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    prometheus, promtool = _require("prometheus"), _require("promtool")
    root = tmp_path_factory.mktemp("prometheus")
    data = root / "data"
    # The backfill ends a few hours ago: blocks must not reach into the head's time range.
    end = (time.time() // HOUR) * HOUR - 3 * HOUR
    source = root / "history.om"
    source.write_text(openmetrics(end - HISTORY_DAYS * DAY, end))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True, capture_output=True, timeout=120,
    )
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = _free_port()
    log = (root / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        yield PrometheusServer(url, end)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prometheus not ready: {log.read_text()[-2000:]}")
