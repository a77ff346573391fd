"""The Flask app: routes only decode requests and encode what the engine decides."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from webhook import review as rv
from webhook.admission import admit
from webhook.metrics import WebhookMetrics
from webhook.state import KINDS, ClusterState

log = logging.getLogger(__name__)

# The apiserver never sends more than 3 MB objects; 5 MB is upstream VPA's cap too (413 above).
MAX_BODY_BYTES = 5 * 1024 * 1024
JSON = "application/json"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON)


def refresh_cache_metrics(state: ClusterState, metrics: WebhookMetrics) -> None:
    """Export cache ages and sync state of this worker."""
    now = time.time()
    metrics.cache_synced.set(1 if state.ready else 0)
    for kind in KINDS:
        age = state.age_seconds(kind, now)
        if age is not None:
            metrics.cache_age.labels(kind).set(age)


def create_app(
    state: ClusterState, metrics: WebhookMetrics | None = None, *, noop_endpoint: bool = False
) -> Flask:
    """Build the app around an injected cluster state (and metrics).

    ``noop_endpoint`` adds ``POST /noop``, an AdmissionReview echo that does no work: the floor
    the load benchmark compares the handlers against.
    """
    app = Flask("tidal-webhook")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    metrics = metrics or WebhookMetrics()

    def review_endpoint(endpoint: str, mutating: bool) -> Response:
        started = time.perf_counter()
        try:
            review = rv.decode(request.get_data(cache=False))
        except rv.BadReview as exc:
            metrics.requests.labels(endpoint, "400").inc()
            return _json({"error": str(exc)}, 400)
        verdict = admit(review, state, mutating=mutating)
        metrics.decisions.labels(verdict.kind, verdict.decision, str(verdict.dry_run).lower()).inc()
        if verdict.fail_open:
            metrics.fail_open.labels(verdict.kind).inc()
        metrics.requests.labels(endpoint, "200").inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return _json(verdict.response)

    @app.post("/mutate")
    def mutate() -> Response:
        return review_endpoint("mutate", True)

    @app.post("/validate")
    def validate() -> Response:
        return review_endpoint("validate", False)

    if noop_endpoint:

        @app.post("/noop")
        def noop() -> Response:
            try:
                review = rv.decode(request.get_data(cache=False))
            except rv.BadReview as exc:
                return _json({"error": str(exc)}, 400)
            return _json(rv.allow(review["request"]["uid"]))

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        if not state.enabled:
            return _json({"status": "ready", "cluster": "none: admissions allowed unchanged"})
        if state.ready:
            return _json({"status": "ready"})
        return _json({"status": "caches not synced"}, 503)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        refresh_cache_metrics(state, metrics)
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if request.path in ("/mutate", "/validate"):
            metrics.requests.labels(request.path.strip("/"), str(code)).inc()
        return _json({"error": exc.description or exc.name}, code)

    return app
