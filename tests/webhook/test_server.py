"""The real server: gunicorn over TLS with throwaway certificates, real HTTPS requests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonpatch
import pytest
import requests
import yaml

from certs.pki import generate
from webhook.app import MAX_BODY_BYTES
from webhook.review import decoded_patch

from . import builders as b
from .helpers import assert_valid_response

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self, tmp: Path, cluster: list[str] | None = None, workers: int = 2, threads: int = 2
    ) -> None:
        """``cluster``: how the server gets cluster state (default: a state file)."""
        self.pki = generate(tmp / "pki", "tidal-webhook", "tidal-system", ips=["127.0.0.1"])
        self.tls_dir = tmp / "tls"
        self.tls_dir.mkdir()
        shutil.copy(self.pki.cert, self.tls_dir / "tls.crt")
        shutil.copy(self.pki.key, self.tls_dir / "tls.key")
        state = tmp / "state.yaml"
        objects = [
            b.replica_set(),
            b.vpa(recommendations=[b.rec(target={"cpu": "250m", "memory": "256Mi"})]),
            b.hpa_v2("api", target=("Deployment", "api")),
        ]
        state.write_text(yaml.safe_dump_all(objects))
        cluster = cluster if cluster is not None else ["--state-file", str(state)]
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env["PYTHONPATH"] = str(ROOT)
        self.log = open(tmp / "server.log", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "webhook", "serve",
                "--cert", str(self.tls_dir / "tls.crt"), "--key", str(self.tls_dir / "tls.key"),
                "--port", str(self.port), "--bind", "127.0.0.1",
                *cluster, "--workers", str(workers), "--threads", str(threads), "--noop-endpoint",
            ],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, and REQUESTS_CA_BUNDLE must not win
        self.session.verify = str(self.pki.ca_cert)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.session.get(self.url + "/healthz", timeout=3).ok:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("webhook did not start:\n" + self.output())
            time.sleep(0.1)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> int:
        self.session.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()

    def post(self, path: str, body: object) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.session.post(
            self.url + path + "?timeout=10s",
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )


@contextlib.contextmanager
def tls_connect(server: Server, context: ssl.SSLContext) -> Iterator[ssl.SSLSocket]:
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        yield tls


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("webhook"))
    yield srv
    # Graceful stop with an idle keep-alive connection open: it is closed, the exit is prompt.
    context = ssl.create_default_context(cafile=str(srv.session.verify))  # CA after rotation
    idle = http.client.HTTPSConnection("127.0.0.1", srv.port, context=context, timeout=10)
    idle.request("GET", "/healthz")
    idle.getresponse().read()
    started = time.monotonic()
    code = srv.stop()
    assert code == 0, srv.output()
    assert time.monotonic() - started < 10
    assert idle.sock is not None
    with contextlib.suppress(
        ssl.SSLError, ConnectionError
    ):  # a TLS-level EOF/reset also says closed
        assert idle.sock.recv(1) == b""
    idle.close()


def test_unreachable_cluster_still_serves_and_allows(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    srv = Server(tmp_path, ["--kubeconfig", str(kubeconfig)])
    try:
        assert srv.session.get(srv.url + "/readyz", timeout=5).status_code == 503
        answer = srv.post("/mutate", b.review(b.pod())).json()["response"]
        assert answer["allowed"] is True and "patch" not in answer
        assert answer["warnings"] == [
            "tidal: pod admitted unchanged: cluster caches not synced yet"
        ]
        checked = srv.post("/validate", b.review(b.hpa_v2())).json()["response"]
        assert checked["allowed"] is True and "conflict checks skipped" in checked["warnings"][0]
    finally:
        assert srv.stop() == 0


def test_pod_mutation_over_https(server: Server) -> None:
    pod = b.pod(b.container(requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "200m"}))
    review = b.review(pod)
    response = server.post("/mutate", review)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert_valid_response(body, review["request"]["uid"])
    patched = jsonpatch.apply_patch(pod, decoded_patch(body), in_place=False)
    assert patched["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m"},
    }
    again = server.post("/mutate", b.review(patched)).json()
    assert "patch" not in again["response"]


def test_validation_denial_over_https(server: Server) -> None:
    response = server.post("/validate", b.review(b.hpa_v2(metrics=[b.resource_metric("memory")])))
    result = response.json()["response"]
    assert result["allowed"] is False and result["status"]["code"] == 403
    assert result["status"]["message"].startswith("HorizontalPodAutoscaler default/web scales")
    assert (
        server.post("/validate", b.review(b.vpa("api-vpa", ("Deployment", "api")))).json()[
            "response"
        ]["allowed"]
        is False
    )


def test_bad_and_oversized_bodies(server: Server) -> None:
    valid = json.dumps(b.review(b.pod())).encode()
    for cut in range(0, len(valid), max(1, len(valid) // 25)):
        response = server.post("/mutate", valid[:cut])
        assert response.status_code == 400 and "error" in response.json()
    # Refused from the Content-Length alone, before the body is read.
    context = ssl.create_default_context(cafile=server.pki.ca_cert)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    conn.putrequest("POST", "/mutate")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    conn.endheaders()
    conn.send(b'{"a":"' + b"x" * 65536)
    big = conn.getresponse()
    assert big.status == 413 and "error" in json.loads(big.read())
    assert big.getheader("Connection") == "close"  # the unread body is never parsed or drained
    conn.close()
    assert server.session.get(server.url + "/healthz", timeout=5).ok


def test_a_chunked_body_over_the_cap_gets_413_not_a_truncated_admission(server: Server) -> None:
    """Without a Content-Length the cap must hold too: the first 5 MB of a larger body were
    read and admitted (200) or failed as JSON (400)."""
    review = json.dumps(b.review(b.pod())).encode()
    padded = review[:-1] + b', "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'

    def chunks(body: bytes, size: int = 65536) -> Iterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start:start + size]

    context = ssl.create_default_context(cafile=server.pki.ca_cert)
    for body, status in ((review, 200), (padded, 413)):
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
        conn.request("POST", "/mutate?timeout=10s", body=chunks(body),
                     headers={"Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"},
                     encode_chunked=True)  # fmt: skip
        try:
            response = conn.getresponse()
            assert response.status == status, response.read()[:200]
            if status == 413:
                assert response.getheader("Connection") == "close"
            else:
                assert json.loads(response.read())["response"]["allowed"] is True
        except ConnectionError:
            assert status == 413  # the server may close before the client sent everything
        finally:
            conn.close()
    assert server.session.get(server.url + "/healthz", timeout=5).ok


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_2_minimum(server: Server) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(server.pki.ca_cert)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):
        old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)), tls_connect(server, old):
        pass
    tls12 = ssl.create_default_context(cafile=server.pki.ca_cert)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(server, tls12) as tls:
        assert tls.version() == "TLSv1.2"


def test_keep_alive_connection_serves_many_admissions(server: Server) -> None:
    context = ssl.create_default_context(cafile=server.pki.ca_cert)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    conn.connect()
    first_socket = conn.sock
    for _ in range(20):
        body = json.dumps(b.review(b.pod()))
        conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    assert conn.sock is first_socket
    conn.close()


def _served_certificate(server: Server, cafile: Path) -> bytes:
    with tls_connect(server, ssl.create_default_context(cafile=cafile)) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der


def test_a_busy_connection_does_not_starve_another(tmp_path: Path) -> None:
    """One thread: a client sending back-to-back requests keeps it, yet another is served."""
    srv = Server(tmp_path, workers=1, threads=1)
    context = ssl.create_default_context(cafile=srv.pki.ca_cert)
    body = json.dumps(b.review(b.pod())).encode()
    stop = time.monotonic() + 6
    served = [0]

    def hammer() -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=context, timeout=10)
        while time.monotonic() < stop:
            conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
            assert conn.getresponse().read()
            served[0] += 1
        conn.close()

    try:
        busy = threading.Thread(target=hammer)
        busy.start()
        time.sleep(1)
        other = http.client.HTTPSConnection("127.0.0.1", srv.port, context=context, timeout=10)
        sent = time.monotonic()
        other.request("POST", "/mutate", body, {"Content-Type": "application/json"})
        assert other.getresponse().status == 200
        waited = time.monotonic() - sent
        other.close()
        busy.join()
    finally:
        srv.stop()
    # The busy connection was answered throughout, and the other one well before it stopped.
    assert served[0] > 50
    assert waited < 2, f"the second connection waited {waited:.1f} s behind the busy one"


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to list sockets")
def test_each_worker_listens_on_its_own_socket(server: Server) -> None:
    """SO_REUSEPORT: the kernel spreads new connections over the workers. With one shared
    socket the busiest worker wins the accepts: 8 wrk connections all on one process served
    ~1,200 req/s, split 5/3 ~3,200 (benchmarks/webhook_load.py, docs/webhook.md)."""

    def listeners() -> list[str]:
        return subprocess.run(
            ["ss", "-tlnpH", f"( sport = :{server.port} )"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip

    deadline = time.monotonic() + 20  # the second worker may still be booting
    while len(listeners()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = listeners()
    assert len(lines) == 2, lines
    assert len({tuple(re.findall(r"pid=(\d+)", line)) for line in lines}) == 2, lines


def test_rotated_certificate_is_served_without_restart(server: Server, tmp_path: Path) -> None:
    before = _served_certificate(server, server.pki.ca_cert)
    fresh = generate(tmp_path / "new", "tidal-webhook", "tidal-system", ips=["127.0.0.1"])
    # Replace both files atomically, as the kubelet does for a mounted Secret.
    for src, name in ((fresh.key, "tls.key"), (fresh.cert, "tls.crt")):
        shutil.copy(src, server.tls_dir / f".{name}.new")
        os.replace(server.tls_dir / f".{name}.new", server.tls_dir / name)
    after = _served_certificate(server, fresh.ca_cert)
    assert after != before
    assert ssl.DER_cert_to_PEM_cert(after).strip() == fresh.cert.read_text().strip()
    server.session.verify = str(fresh.ca_cert)
    server.session.close()
    assert server.session.get(server.url + "/readyz", timeout=5).json() == {"status": "ready"}


def test_metrics_are_aggregated_across_workers(server: Server) -> None:
    for _ in range(10):
        server.post("/mutate", b.review(b.pod()))
    text = server.session.get(server.url + "/metrics", timeout=5).text
    lines = [line for line in text.splitlines() if line.startswith("tidal_webhook_requests_total")]
    total = sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'endpoint="mutate"' in line)
    assert total >= 10
    assert "tidal_webhook_cache_synced 1.0" in text
    assert "tidal_webhook_cache_age_seconds" in text


def test_noop_endpoint_answers_allowed(server: Server) -> None:
    review = b.review(b.pod())
    body = server.post("/noop", review).json()
    assert_valid_response(body, review["request"]["uid"])
    assert body["response"] == {"uid": review["request"]["uid"], "allowed": True}


def _workers(server: Server) -> set[int]:
    """PIDs of the arbiter's live worker processes."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def _serves_every_worker(server: Server, rounds: int = 20) -> None:
    """Fresh connections (spread over the workers' sockets) all admit."""
    for _ in range(rounds):
        with requests.Session() as fresh:
            fresh.trust_env = False
            fresh.verify = server.session.verify
            reply = fresh.post(server.url + "/mutate?timeout=10s", json=b.review(b.pod()),
                               timeout=10)
            assert reply.status_code == 200, server.output()


def _replaced(server: Server, before: set[int], count: int) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(server)
        if len(now) == count and now != before and server.proc.poll() is None:
            with contextlib.suppress(requests.RequestException):
                if server.session.get(server.url + "/readyz", timeout=3).ok:
                    return now
        time.sleep(0.2)
    raise AssertionError(f"no replacement worker:\n{server.output()}")


def test_a_worker_exit_and_a_reload_leave_the_server_serving(tmp_path: Path) -> None:
    """A worker's graceful exit must not delete the metrics directory the others and their
    replacements write to (it did: "Worker failed to boot" and the whole server stopped)."""
    server = Server(tmp_path, workers=2)
    try:
        deadline = time.monotonic() + 20
        while len(_workers(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        first = _workers(server)
        os.kill(min(first), signal.SIGTERM)  # one worker exits gracefully
        second = _replaced(server, first, 2)
        _serves_every_worker(server)
        os.kill(server.proc.pid, signal.SIGHUP)  # reload: every worker replaced
        third = _replaced(server, second, 2)
        assert not third & second
        _serves_every_worker(server)
        metrics = server.session.get(server.url + "/metrics", timeout=5)
        assert metrics.ok and "tidal_webhook_requests_total" in metrics.text
        assert "Worker failed to boot" not in server.output()
    except BaseException:
        server.stop()
        raise
    log = server.output()
    assert server.stop() == 0, log


def test_a_second_server_on_a_taken_port_refuses_to_start(server: Server) -> None:
    """Its workers' SO_REUSEPORT sockets would bind too and take half the connections, with
    their own certificate and cluster."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    second = subprocess.run(
        [sys.executable, "-m", "webhook", "serve", "--cert", str(server.tls_dir / "tls.crt"),
         "--key", str(server.tls_dir / "tls.key"), "--port", str(server.port),
         "--bind", "127.0.0.1", "--no-cluster"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"tidal-webhook: error: 127.0.0.1:{server.port}: address already in use (another "
        "tidal-webhook or server listens there); stop it or choose another --port"
    )
    assert server.session.get(server.url + "/healthz", timeout=5).ok
    assert f"tidal-webhook serving https://127.0.0.1:{server.port}" in server.output()
