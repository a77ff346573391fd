"""Prometheus behind basic auth and TLS (a real server with a web config): the right
credentials give the same recommendations as an open server, wrong ones a clear error."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recommender.cli import main
from recommender.input.backoff import SourceUnavailable
from recommender.input.prometheus import PrometheusAuth, PrometheusClient
from tests.e2e.pki import certificate_pem, issue_certificate, make_ca, write_pem
from tests.prometheus.backfill import DAY, HOUR, openmetrics
from tests.prometheus.conftest import _free_port, _require

pytestmark = pytest.mark.slow
USER, PASSWORD = "tidal", "s3cret-horse"


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[tuple[str, Path, float]]:
    """(url, directory with ca.crt and password, end) of a Prometheus wanting both."""
    bcrypt = pytest.importorskip("bcrypt")
    prometheus, promtool = _require("prometheus"), _require("promtool")
    root = tmp_path_factory.mktemp("secured")
    end = (time.time() // HOUR) * HOUR - 3 * HOUR
    (root / "h.om").write_text(openmetrics(end - 2 * DAY, end))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "h.om"),
                    str(root / "data")], check=True, capture_output=True, timeout=120)
    ca, ca_key = make_ca("prometheus-ca")
    cert, key = issue_certificate(ca, ca_key, "prometheus", server=True, ips=("127.0.0.1",))
    write_pem(root / "ca.crt", certificate_pem(ca))
    write_pem(root / "tls.crt", cert)
    write_pem(root / "tls.key", key, private=True)
    (root / "password").write_text(PASSWORD + "\n")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (root / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {root / 'tls.crt'}\n  key_file: {root / 'tls.key'}\n"
        f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = _free_port()
    log = (root / "log").open("w")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={root / 'prometheus.yml'}",
         f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         f"--web.config.file={root / 'web.yml'}", "--storage.tsdb.retention.time=30d"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    auth = PrometheusAuth(username=USER, password_file=str(root / "password"),
                          ca_file=str(root / "ca.crt"))
    client = PrometheusClient(url, timeout_s=2, retries=0, auth=auth)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.query("up", end)
                break
            except SourceUnavailable:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((root / "log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield url, root, end
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _recommend(url: str, *flags: str) -> tuple[int, str]:
    return main(["recommend", "--prometheus-url", url, "--namespace", "shop",
                 "--history-length", "2d", "--format", "json", *flags]), ""


def test_right_credentials_read_like_an_open_server(secured, prometheus_server, capsys):
    url, root, _ = secured
    code, _ = _recommend(url, "--prometheus-username", USER, "--prometheus-password-file",
                         str(root / "password"), "--prometheus-ca-file", str(root / "ca.crt"),
                         "--prometheus-header", "X-Scope-OrgID:tenant-a")
    assert code == 0
    secured_doc = json.loads(capsys.readouterr().out)
    code, _ = _recommend(prometheus_server.url)
    assert code == 0
    open_doc = json.loads(capsys.readouterr().out)
    pick = [(r["workload"], r["container"], r["target"]["cpu"])
            for r in secured_doc["recommendations"]]
    assert pick and pick == [(r["workload"], r["container"], r["target"]["cpu"])
                             for r in open_doc["recommendations"]]


@pytest.mark.parametrize(("flags", "message"), [
    (["--prometheus-username", USER, "--prometheus-password-file", "{wrong}"],
     "refused the credentials (401 Unauthorized)"),
    ([], "refused the credentials (401 Unauthorized)"),
    (["--prometheus-username", USER, "--prometheus-password-file", "{missing}"],
     "cannot read"),
])
def test_wrong_credentials_are_one_line(secured, tmp_path, capsys, flags, message):
    url, root, _ = secured
    (tmp_path / "wrong").write_text("nope\n")
    flags = [f.format(wrong=tmp_path / "wrong", missing=tmp_path / "missing") for f in flags]
    code, _ = _recommend(url, "--prometheus-ca-file", str(root / "ca.crt"), *flags)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_an_unknown_ca_is_refused_clearly(secured, capsys):
    url, _, _ = secured
    code, _ = _recommend(url, "--prometheus-username", USER)
    err = capsys.readouterr().err
    assert code == 2 and "CERTIFICATE_VERIFY_FAILED" in err and len(err.strip().splitlines()) == 1


def test_a_bearer_token_is_reread_after_rotation(tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    auth = PrometheusAuth(bearer_token_file=str(token), headers=(("X-Scope-OrgID", "t"),))
    assert auth.request_headers() == {"X-Scope-OrgID": "t", "Authorization": "Bearer first"}
    token.write_text("second\n")  # rotated by the kubelet: no restart needed
    assert auth.request_headers()["Authorization"] == "Bearer second"


def test_a_malformed_header_is_a_usage_error(capsys):
    assert main(["recommend", "--prometheus-url", "http://127.0.0.1:9", "--prometheus-header",
                 "no-colon"]) == 2
    assert "expected NAME:VALUE" in capsys.readouterr().err
