"""The external metrics API over real TLS: only the front proxy gets in, each request is
authorised by a SubjectAccessReview, values are found by label selector."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time

import pytest

from recommender.metrics_api.auth import Authenticator, Authorizer, RequestHeaderConfig
from recommender.metrics_api.board import MetricBoard, MetricValue
from recommender.metrics_api.selectors import SelectorError, parse_selector
from recommender.metrics_api.server import MetricsApiServer

NOW = 1_790_000_000.0


class Reviews:
    """The API server's SubjectAccessReview endpoint, as it answers (shape recorded from the
    e2e cluster): allows users in ``allowed``; counts the reviews."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed, self.bodies = allowed, []

    def __call__(self, path: str, body):
        assert path == "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        self.bodies.append(body)
        ok = body["spec"]["user"] in self.allowed
        return {**body, "status": {"allowed": ok, "reason": "RBAC: allowed" if ok else ""}}


@pytest.fixture()
def served(pki):
    config = RequestHeaderConfig.from_configmap({
        "requestheader-client-ca-file": pki["proxy-ca.crt"].read_text(),
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        "client-ca-file": pki["cluster-ca.crt"].read_text(),
    })
    board = MetricBoard()
    board.publish("tidal_forecast", [
        MetricValue("shop", {"workload": "web", "kind": "Deployment", "signal": "cpu"}, 3.25, NOW),
        MetricValue("shop", {"workload": "web", "kind": "Deployment", "signal": "gpu"}, 1.5, NOW),
        MetricValue("shop", {"workload": "api", "kind": "Deployment", "signal": "cpu"}, 0.2, NOW),
        MetricValue("ml", {"workload": "llm", "kind": "LeaderWorkerSet", "signal": "gpu"}, 7, NOW),
    ])
    reviews = Reviews({"system:serviceaccount:kube-system:horizontal-pod-autoscaler",
                       "system:kube-aggregator"})
    server = MetricsApiServer(board, Authenticator(config), Authorizer(reviews),
                              str(pki["server.crt"]), str(pki["server.key"]), "127.0.0.1", 0,
                              max_connections=8, handshake_timeout_s=1.0).start()
    yield server, reviews
    server.stop()


def call(server, pki, path, cert=None, user=None, groups=()):
    context = ssl.create_default_context(cafile=str(pki["cluster-ca.crt"]))
    if cert:
        context.load_cert_chain(str(pki[f"{cert}.crt"]), str(pki[f"{cert}.key"]))
    conn = http.client.HTTPSConnection("127.0.0.1", server.server_address[1], context=context,
                                       timeout=5)
    headers = {}
    if user:
        headers["X-Remote-User"] = user
    conn.putrequest("GET", path)
    for k, v in headers.items():
        conn.putheader(k, v)
    for g in groups:
        conn.putheader("X-Remote-Group", g)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, (json.loads(body) if body.startswith(b"{") else body)


HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
VALUES = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/tidal_forecast"


def test_the_hpa_through_the_front_proxy_reads_forecasts(served, pki):
    server, reviews = served
    code, body = call(server, pki, VALUES + "?labelSelector=workload%3Dweb,signal%3Dcpu",
                      "proxy", HPA, ["system:serviceaccounts"])
    assert code == 200 and body["kind"] == "ExternalMetricValueList"
    assert [(i["metricLabels"]["signal"], i["value"]) for i in body["items"]] == [("cpu", "3250m")]
    assert body["items"][0]["metricName"] == "tidal_forecast"
    assert body["items"][0]["timestamp"].endswith("Z")
    spec = reviews.bodies[-1]["spec"]
    assert spec["resourceAttributes"] == {"group": "external.metrics.k8s.io",
                                          "namespace": "shop", "resource": "tidal_forecast",
                                          "verb": "list", "version": "v1beta1"}
    assert spec["groups"] == ["system:serviceaccounts"]
    code, body = call(server, pki, VALUES + "?labelSelector=signal+in+(cpu,gpu),workload!%3Dapi",
                      "proxy", HPA)
    assert code == 200 and sorted(i["value"] for i in body["items"]) == ["1500m", "3250m"]
    code, body = call(server, pki, VALUES, "proxy", HPA)
    assert len(body["items"]) == 3  # no selector: the namespace's every series


def test_decisions_are_cached(served, pki):
    server, reviews = served
    for _ in range(5):
        assert call(server, pki, VALUES, "proxy", HPA)[0] == 200
    assert len(reviews.bodies) == 1


def test_discovery_for_the_aggregator(served, pki):
    server, _ = served
    code, body = call(server, pki, "/apis/external.metrics.k8s.io/v1beta1", "proxy",
                      "system:kube-aggregator", ["system:masters"])
    assert code == 200 and body["resources"][0]["name"] == "tidal_forecast"
    code, body = call(server, pki, "/apis/external.metrics.k8s.io", "proxy",
                      "system:kube-aggregator")
    assert body["preferredVersion"]["groupVersion"] == "external.metrics.k8s.io/v1beta1"
    assert call(server, pki, "/healthz")[0] == 200  # probes need no identity


@pytest.mark.parametrize(("cert", "user", "why"), [
    (None, HPA, "no client certificate"),
    ("admin", HPA, "not a front-proxy"),  # a cluster client certificate, e.g. kubectl's
    ("other-proxy", HPA, "not one of the requestheader-allowed-names"),
    ("proxy", None, "names no user"),
])
def test_anyone_but_the_front_proxy_gets_401(served, pki, cert, user, why):
    server, reviews = served
    code, body = call(server, pki, VALUES, cert, user)
    assert code == 401 and body["reason"] == "Unauthorized" and why in body["message"]
    assert reviews.bodies == []


def test_a_certificate_from_an_unknown_ca_fails_the_handshake(served, pki):
    server, _ = served
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(server, pki, VALUES, "stranger", HPA)


def test_users_rbac_denies_get_403(served, pki):
    server, _ = served
    code, body = call(server, pki, VALUES, "proxy", "mallory")
    assert code == 403 and body["reason"] == "Forbidden"
    assert 'user "mallory" cannot list resource "tidal_forecast"' in body["message"]


def test_unknown_metric_and_bad_selector(served, pki):
    server, _ = served
    code, body = call(server, pki, VALUES.replace("tidal_forecast", "qps"), "proxy", HPA)
    assert code == 404 and 'no external metric "qps"' in body["message"]
    code, body = call(server, pki, VALUES + "?labelSelector=workload+in+web", "proxy", HPA)
    assert code == 400 and "invalid label selector" in body["message"]


def test_idle_and_stalled_handshakes_do_not_block_others(served, pki):
    server, _ = served
    stalled = [socket.create_connection(server.server_address[:2]) for _ in range(6)]
    try:
        started = time.monotonic()
        assert call(server, pki, VALUES, "proxy", HPA)[0] == 200
        assert time.monotonic() - started < 1.0
    finally:
        for s in stalled:
            s.close()


def test_selectors_parse_and_refuse():
    reqs = parse_selector("a=b, c!=d,e in (x, y),f notin (z),g,!h")
    assert [(r.key, r.op) for r in reqs] == [("a", "="), ("c", "!="), ("e", "in"),
                                             ("f", "notin"), ("g", "exists"), ("h", "!")]
    assert parse_selector("") == ()
    for bad in ("a in b", "a=(", "=b", "a b"):
        with pytest.raises(SelectorError):
            parse_selector(bad)
