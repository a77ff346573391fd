"""Odd bodies against the real server (gunicorn, TLS): oversized, deeply nested, absurd
quantities. Each gets a valid answer: 413 and the connection closed at once, 400 for what is
not an AdmissionReview, a 200 AdmissionReview for the rest; never 500, never a bad pod."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import ssl
import time
from collections.abc import Iterator

import jsonpatch
import pytest

from recommender.quantity import parse_quantity
from webhook.app import MAX_BODY_BYTES
from webhook.review import decoded_patch

from . import builders as b
from .helpers import assert_valid_response
from .test_server import Server

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
DEPTH = 1000  # within orjson's 1,024 levels: the body parses, the handlers get it
HEAD = b"POST /mutate HTTP/1.1\r\nHost: tidal\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("bodies"), workers=1, threads=2)
    yield srv
    assert srv.stop() == 0, srv.output()


def _tls(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.pki.ca_cert))
    raw = socket.create_connection((HOST, server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=HOST)


def _head_and_eof(conn: ssl.SSLSocket) -> tuple[bytes, float]:
    """The response's head, and seconds from its arrival until the server closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    started = time.monotonic()
    try:
        while conn.recv(65536):
            pass
    except (ConnectionError, ssl.SSLError):
        pass  # a reset or a TLS-level EOF also says closed
    return data.partition(b"\r\n\r\n")[0], time.monotonic() - started


def _sendall(conn: ssl.SSLSocket, data: bytes) -> None:
    """Send until done or until the server stops reading (it answered 413 and closed)."""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        conn.sendall(data)


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_body_over_the_cap_gets_413_and_the_connection_closed_at_once(
    server: Server, framing: str
) -> None:
    """A chunked body over 5 MB was read up to 5 MB and admitted (or 400); a 413 said
    keep-alive and the client waited 5 s for the close. Now: 413, Connection: close, EOF."""
    review = json.dumps(b.review(b.pod())).encode()
    body = review[:-1] + b', "padding": "' + b"x" * (MAX_BODY_BYTES + 1024) + b'"}'
    with _tls(server) as conn:
        if framing == "chunked":
            _sendall(conn, HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 256 * 1024):
                chunk = body[start : start + 256 * 1024]
                _sendall(conn, b"%x\r\n%s\r\n" % (len(chunk), chunk))
            _sendall(conn, b"0\r\n\r\n")
        else:
            _sendall(conn, HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
            _sendall(conn, body[:65536])  # the rest is never sent: 413 from the header
        head, eof_after = _head_and_eof(conn)
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 413"), head
    assert b"connection: close" in [line.lower() for line in lines[1:]], head
    assert eof_after < 1.0, eof_after


def _nested(value: str, kind: str) -> str:
    """JSON text of ``value`` nested DEPTH levels deep in maps or lists."""
    if kind == "map":
        return '{"a":' * DEPTH + value + "}" * DEPTH
    return "[" * DEPTH + value + "]" * DEPTH


def _with(review: dict, path: tuple[str | int, ...], text: str) -> bytes:
    """``review`` as JSON with the value at ``path`` replaced by the JSON text ``text``."""
    doc = copy.deepcopy(review)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@@NESTED@@"
    return json.dumps(doc).replace('"@@NESTED@@"', text).encode()


REVIEWS = {
    "/mutate": lambda: b.review(b.pod()),
    "/validate vpa": lambda: b.review(b.vpa()),
    "/validate hpa": lambda: b.review(b.hpa_v2("api", target=("Deployment", "api"))),
}
META = ("request", "object", "metadata")
NESTED_PATHS = [
    (*META, "name"),
    (*META, "generateName"),
    (*META, "namespace"),
    (*META, "labels"),
    (*META, "annotations"),
    (*META, "ownerReferences"),
    ("request", "object", "spec"),
    ("request", "object", "spec", "containers"),
]


@pytest.mark.parametrize("kind", ["map", "list"])
@pytest.mark.parametrize("endpoint", sorted(REVIEWS))
def test_a_review_nested_a_thousand_deep_gets_an_admission_review(
    server: Server, endpoint: str, kind: str
) -> None:
    """Metadata or spec nested 1,000 deep: an object the apiserver would never send. Its name
    nested so gave HTTP 500 (the fail-open answer raised RecursionError formatting it); now
    such metadata is allowed unchanged with a warning saying why, and a nested spec is
    allowed unchanged (a pod, an HPA) or denied as invalid (a VPA, whose spec is checked)."""
    review = REVIEWS[endpoint]()
    uid = review["request"]["uid"]
    for path in NESTED_PATHS:
        if path[-1] == "containers" and endpoint != "/mutate":
            continue
        reply = server.post(endpoint.split()[0], _with(review, path, _nested('"x"', kind)))
        assert reply.status_code == 200, (path, reply.text[:300])
        answer = reply.json()
        assert_valid_response(answer, uid)
        response = answer["response"]
        assert "patch" not in response, path
        if path[-2] == "metadata" and path[-1] != "ownerReferences":
            assert response["allowed"] is True, (path, answer)
            assert f"object.metadata.{path[-1]} is not" in response["warnings"][0]
        elif endpoint == "/validate vpa" and path[-1] == "spec":
            assert response["allowed"] is False and "is invalid" in response["status"]["message"]
        else:
            assert response["allowed"] is True, (path, answer)


def test_the_envelope_nested_deep_or_past_the_json_limit_gets_400(server: Server) -> None:
    """What is not an AdmissionReview (its request fields not strings or objects, or JSON
    deeper than 1,024 levels) is a 400, as any undecodable body."""
    review = b.review(b.pod())
    for path, text in (
        (("request", "namespace"), _nested('"x"', "map")),
        (("request", "object"), _nested("{}", "list")),
        (("request", "uid"), _nested('"x"', "list")),
        ((*META, "name"), '{"a":' * 2000 + '"x"' + "}" * 2000),
    ):
        reply = server.post("/mutate", _with(review, path, text))
        assert reply.status_code == 400, (path, reply.text[:300])
        assert isinstance(reply.json()["error"], str)


@pytest.mark.parametrize("quantity", ["1e400", "-1", "-500m", "1e308", "1e306", "-1e400"])
def test_absurd_quantities_never_give_an_error_nor_a_limit_at_or_below_zero(
    server: Server, quantity: str
) -> None:
    """``1e400`` failed open with OverflowError; negative quantities gave negative limits.
    As request or limit, the pod is sized and every limit stays at or above its request."""
    for requests, limits in (
        ({"cpu": quantity, "memory": quantity}, {"cpu": "2", "memory": "1Gi"}),
        ({"cpu": "100m", "memory": "64Mi"}, {"cpu": quantity, "memory": quantity}),
        ({"cpu": quantity, "memory": quantity}, {"cpu": quantity, "memory": quantity}),
    ):
        pod = b.pod(b.container(requests=requests, limits=limits))
        review = b.review(pod)
        reply = server.post("/mutate", review)
        assert reply.status_code == 200, reply.text[:300]
        answer = reply.json()
        assert_valid_response(answer, review["request"]["uid"])
        assert not any("error" in w for w in answer["response"].get("warnings", [])), answer
        patched = jsonpatch.apply_patch(pod, decoded_patch(answer), in_place=False)
        resources = patched["spec"]["containers"][0]["resources"]
        new_requests = {r: parse_quantity(v) for r, v in resources["requests"].items()}
        assert new_requests == {"cpu": 0.25, "memory": 256 * 2**20}, resources
        for resource, text in resources.get("limits", {}).items():
            if text == quantity:
                continue  # an unparsable limit is left as it was: the apiserver judges it
            limit = parse_quantity(text)
            assert 0 < limit < float("inf") and limit >= new_requests[resource], resources
    assert "OverflowError" not in server.output()
