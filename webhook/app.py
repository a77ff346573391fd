"""The Flask app: routes only decode requests and encode what the engine decides."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from webhook import review as rv
from webhook.admission import PATCHES, admit
from webhook.metrics import WebhookMetrics
from webhook.state import KINDS, ClusterState

log = logging.getLogger(__name__)

# The apiserver never sends more than 3 MB objects; 5 MB is upstream VPA's cap too (413 above).
MAX_BODY_BYTES = 5 * 1024 * 1024
JSON = "application/json"


# A review endpoint: the request body in, the JSON answer and its HTTP status out.
Handler = Callable[[bytes], tuple[bytes, int]]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON)


def _flask_view(handler: Handler) -> Callable[[], Response]:
    def view() -> Response:
        payload, status = handler(request.get_data(cache=False))
        return Response(payload, status=status, mimetype=JSON)

    return view


class ReviewRoutes:
    """WSGI middleware serving the review endpoints without Flask's machinery.

    Flask's request context, routing and response objects cost about as much as the admission
    itself (~0.1 ms). A POST to a review endpoint goes straight to its handler; a body over
    :data:`MAX_BODY_BYTES`, declared or chunked, gets 413 without being read on, and the
    connection is closed after it (the rest of the body is never drained). Anything else
    (another method or path) goes to the Flask app, whose routes answer 405/404.
    """

    def __init__(self, app: Any, handlers: Mapping[str, Handler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        handler = self.handlers.get(environ.get("PATH_INFO", ""))
        if handler is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        declared = environ.get("CONTENT_LENGTH")
        try:
            length = int(declared) if declared else None
        except ValueError:
            return self.app(environ, start_response)  # gunicorn refuses these first
        if length is not None and not 0 <= length <= MAX_BODY_BYTES:
            return _too_large(start_response)
        body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1 if length is None else length)
        if len(body) > MAX_BODY_BYTES:  # chunked: the cap, however the body is framed
            return _too_large(start_response)
        payload, status = handler(body)
        return _respond(start_response, status, payload)


def _respond(
    start_response: Callable[..., Any], status: int, payload: bytes
) -> list[bytes]:
    headers = [("Content-Type", JSON), ("Content-Length", str(len(payload)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [payload]


def _too_large(start_response: Callable[..., Any]) -> list[bytes]:
    """413, and the connection closed after it: the unread body must not be taken for the
    next request, nor drained (under gunicorn, ``start_response`` is its response's method,
    whose ``force_close`` also makes the header say ``Connection: close``)."""
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()
    message = f"request body over {MAX_BODY_BYTES} bytes"
    return _respond(start_response, 413, orjson.dumps({"error": message}))


def refresh_cache_metrics(state: ClusterState, metrics: WebhookMetrics) -> None:
    """Export cache ages, sync state and pod patch memo lookups of this worker."""
    metrics.memo.labels("hit").set(PATCHES.hits)
    metrics.memo.labels("miss").set(PATCHES.misses)
    now = time.time()
    metrics.cache_synced.set(1 if state.ready else 0)
    for kind in KINDS:
        age = state.age_seconds(kind, now)
        if age is not None:
            metrics.cache_age.labels(kind).set(age)


def create_app(
    state: ClusterState, metrics: WebhookMetrics | None = None, *, noop_endpoint: bool = False,
    notices: Callable[[], list[str]] = list,
) -> Flask:
    """Build the app around an injected cluster state (and metrics); ``notices``: what
    ``/readyz`` also says (upstream's admission controller registered beside this one).

    ``noop_endpoint`` adds ``POST /noop``, an AdmissionReview echo that does no work: the floor
    the load benchmark compares the handlers against.
    """
    app = Flask("tidal-webhook")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    metrics = metrics or WebhookMetrics()

    def review(endpoint: str, mutating: bool) -> Handler:
        def handle(body: bytes) -> tuple[bytes, int]:
            started = time.perf_counter()
            try:
                decoded = rv.decode(body)
            except rv.BadReview as exc:
                metrics.requests.labels(endpoint, "400").inc()
                return orjson.dumps({"error": str(exc)}), 400
            verdict = admit(decoded, state, mutating=mutating)
            decision = (verdict.kind, verdict.decision, str(verdict.dry_run).lower())
            metrics.decisions.labels(*decision).inc()
            if verdict.fail_open:
                metrics.fail_open.labels(verdict.kind).inc()
            metrics.requests.labels(endpoint, "200").inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            return orjson.dumps(verdict.response), 200

        return handle

    def noop(body: bytes) -> tuple[bytes, int]:
        try:
            decoded = rv.decode(body)
        except rv.BadReview as exc:
            return orjson.dumps({"error": str(exc)}), 400
        return orjson.dumps(rv.allow(decoded["request"]["uid"])), 200

    handlers = {"/mutate": review("mutate", True), "/validate": review("validate", False)}
    if noop_endpoint:
        handlers["/noop"] = noop  # the floor the load benchmark compares the handlers against
    for path, handler in handlers.items():
        app.add_url_rule(path, path.strip("/"), _flask_view(handler), methods=["POST"])
    app.wsgi_app = ReviewRoutes(app.wsgi_app, handlers)  # type: ignore[method-assign]

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        if not state.enabled:
            return _json({"status": "ready", "cluster": "none: admissions allowed unchanged"})
        if state.ready:
            said = notices()
            return _json({"status": "ready", **({"warnings": said} if said else {})})
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
