"""The Flask layer: decoding errors, payload limit, health, metrics, and fuzzed bodies."""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook.app import JSON, MAX_BODY_BYTES, create_app
from webhook.metrics import WebhookMetrics
from webhook.state import ClusterState

from . import builders as b
from .helpers import assert_valid_response


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    state = ClusterState.from_objects([b.replica_set(), b.vpa(recommendations=[b.rec()])])
    app = create_app(state, WebhookMetrics())
    return app.test_client()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"kind": "Pod"}).encode(), "not an admission.k8s.io/v1 AdmissionReview"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
            "no request",
        ),
        (
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"kind": {}},
                }
            ).encode(),
            "no uid",
        ),
        (b"\xff\xfe\x00", "not JSON"),
    ],
)
def test_bad_bodies_get_400_with_a_json_error(client, body: bytes, words: str) -> None:  # type: ignore[no-untyped-def]
    for path in ("/mutate", "/validate"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400
        assert words in response.get_json()["error"]


def test_body_over_the_limit_gets_413(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/mutate", data=b" " * (MAX_BODY_BYTES + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_pod_mutation_round_trip_and_metrics(client) -> None:  # type: ignore[no-untyped-def]
    review = b.review(b.pod(b.container(requests={"cpu": "1"})))
    response = client.post("/mutate?timeout=10s", json=review)
    assert response.status_code == 200
    body = response.get_json()
    assert_valid_response(body, review["request"]["uid"])
    assert body["response"]["patchType"] == "JSONPatch"
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'tidal_webhook_decisions_total{decision="patched",dry_run="false",kind="pod"} 1.0' in text
    )
    assert "tidal_webhook_request_duration_seconds_bucket" in text
    assert 'tidal_webhook_cache_age_seconds{kind="VerticalPodAutoscaler"}' in text


def test_memo_lookups_are_exported() -> None:
    state = ClusterState.from_objects([b.replica_set(), b.vpa(recommendations=[b.rec()])])
    client = create_app(state, WebhookMetrics()).test_client()

    def lookups() -> dict[str, float]:
        text = client.get("/metrics").get_data(as_text=True)
        pattern = r'tidal_webhook_pod_patch_memo_lookups\{result="(\w+)"\} ([\d.]+)'
        return {k: float(v) for k, v in re.findall(pattern, text)}

    before = lookups()
    for _ in range(3):  # three replicas of one template: one miss, then hits
        pod = b.pod(b.container(requests={"cpu": "123m"}))
        assert client.post("/mutate", json=b.review(pod)).status_code == 200
    after = lookups()
    assert after["miss"] - before["miss"] == 1
    assert after["hit"] - before["hit"] == 2


def test_health_and_readiness() -> None:
    assert create_app(ClusterState()).test_client().get("/readyz").status_code == 503
    assert create_app(ClusterState(enabled=False)).test_client().get("/readyz").status_code == 200
    synced = create_app(ClusterState.from_objects([])).test_client()
    assert synced.get("/readyz").status_code == 200
    assert synced.get("/healthz").get_json() == {"status": "ok"}
    assert synced.get("/mutate").status_code == 405
    assert synced.post("/noop", json={}).status_code == 404


def _valid_review() -> bytes:
    review = b.review(b.pod(b.container(requests={"cpu": "100m"}, limits={"cpu": "1"})))
    return json.dumps(review).encode()


VALID = _valid_review()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _mangled_reviews() -> st.SearchStrategy[bytes]:
    """Real reviews with random fields replaced: reaches the handlers, not just the decoder."""
    base = json.loads(VALID)

    def mangle(path: list[str], value: object) -> bytes:
        doc = json.loads(VALID)
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node
        if isinstance(node, dict):
            node[path[-1]] = value
        return json.dumps(doc).encode()

    paths = st.sampled_from(
        [
            ["request", "object", "spec", "containers"],
            ["request", "object", "metadata"],
            ["request", "object", "metadata", "ownerReferences"],
            ["request", "object", "spec"],
            ["request", "object"],
            ["request", "kind"],
            ["request", "resource"],
            ["request", "operation"],
            ["request", "uid"],
            ["request", "dryRun"],
            ["request"],
        ]
    )
    assert base
    return st.builds(mangle, paths, json_values)


bodies = st.one_of(
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=len(VALID)).map(lambda n: VALID[:n]),
    json_values.map(lambda v: json.dumps(v).encode()),
    _mangled_reviews(),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, path=st.sampled_from(["/mutate", "/validate"]))
def test_random_and_truncated_bodies_never_500_nor_invalid_review(
    client, body: bytes, path: str
) -> None:  # type: ignore[no-untyped-def]
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.get_data()
    payload = response.get_json()
    if response.status_code == 400:
        assert isinstance(payload["error"], str)
        return
    uid = json.loads(body)["request"]["uid"]
    assert_valid_response(payload, uid)
    if path == "/validate":
        assert "patch" not in payload["response"]


def _both_paths():  # type: ignore[no-untyped-def]
    """A client of the whole app (review fast path first) and one of its Flask routes alone."""
    from werkzeug.test import Client

    state = ClusterState.from_objects([b.replica_set(), b.vpa(recommendations=[b.rec()])])
    app = create_app(state, WebhookMetrics(), noop_endpoint=True)
    return app.test_client(), Client(app.wsgi_app.app)


@pytest.mark.parametrize("path", ["/mutate", "/validate", "/noop"])
@pytest.mark.parametrize(
    "body",
    [
        json.dumps(b.review(b.pod(b.container(requests={"cpu": "1"})))).encode(),
        json.dumps(b.review(b.hpa_v2(metrics=[b.resource_metric("memory")]))).encode(),
        b"{not json",
        b"",
    ],
)
def test_the_fast_path_answers_exactly_as_the_flask_routes(path: str, body: bytes) -> None:
    fast, routes = _both_paths()
    answers = [
        client.post(path, data=body, content_type="application/json") for client in (fast, routes)
    ]
    fast_answer, route_answer = answers
    assert fast_answer.status_code == route_answer.status_code
    assert fast_answer.headers["Content-Type"] == route_answer.headers["Content-Type"] == JSON
    assert fast_answer.get_data() == route_answer.get_data()


def test_requests_the_fast_path_leaves_to_flask() -> None:
    fast, _ = _both_paths()
    review = json.dumps(b.review(b.pod())).encode()
    # A chunked body (no Content-Length) is read up to the cap and admitted the same way.
    chunked = fast.post(
        "/mutate",
        input_stream=io.BytesIO(review),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert chunked.status_code == 200 and chunked.get_json()["response"]["allowed"] is True
    assert fast.get("/mutate").status_code == 405
    assert fast.post("/nothing-here", data=review).status_code == 404
    too_big = fast.post("/validate", data=b" " * (MAX_BODY_BYTES + 1))
    assert too_big.status_code == 413 and "error" in too_big.get_json()
    chunked_too_big = fast.post(
        "/validate", input_stream=io.BytesIO(b" " * (MAX_BODY_BYTES + 1)),
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert chunked_too_big.status_code == 413
