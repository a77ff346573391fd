"""Decoding AdmissionReview requests and building their responses.

Everything here is pure: bytes or dicts in, typed dicts out. The Flask routes call
:func:`decode` and serialise what :func:`webhook.admission.admit` returns.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, cast

import orjson

from webhook.wire import (
    API_VERSION,
    KIND,
    PATCH_TYPE,
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReview,
    PatchOperation,
)

# The apiserver prints each warning as "Warning: <text>"; longer ones are truncated there.
MAX_WARNING_CHARS = 120
ACCEPTED_API_VERSIONS = (API_VERSION,)
_GVR = ("group", "version", "resource")


class BadReview(ValueError):
    """A body that is not an AdmissionReview request: the caller answers HTTP 400."""


def decode(body: bytes) -> AdmissionReview:
    """Parse and check an AdmissionReview request body; raises :class:`BadReview`."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadReview(f"body is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(review, dict):
        raise BadReview("body is not a JSON object")
    if review.get("kind") != KIND or review.get("apiVersion") not in ACCEPTED_API_VERSIONS:
        raise BadReview(f"body is not an {API_VERSION} {KIND}")
    request = review.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("AdmissionReview request has no uid")
    for field, keys in (("kind", ("group", "version", "kind")), ("resource", _GVR)):
        value = request.get(field)
        if not isinstance(value, dict) or not all(isinstance(value.get(k, ""), str) for k in keys):
            raise BadReview(f"AdmissionReview request.{field} is not a group/version/{keys[2]}")
    for field in ("object", "oldObject"):
        if request.get(field) is not None and not isinstance(request[field], dict):
            raise BadReview(f"AdmissionReview request.{field} is not an object")
    if not isinstance(request.get("operation"), str):
        raise BadReview("AdmissionReview request has no operation")
    for field in ("namespace", "name", "subResource"):
        if request.get(field) is not None and not isinstance(request[field], str):
            raise BadReview(f"AdmissionReview request.{field} is not a string")
    return cast(AdmissionReview, review)


def request_of(review: AdmissionReview) -> AdmissionRequest:
    """The request of a decoded review."""
    return review["request"]


def warning(text: str) -> str:
    """A warning entry short enough for kubectl's single line."""
    text = " ".join(text.split())
    if len(text) <= MAX_WARNING_CHARS:
        return text
    return text[: MAX_WARNING_CHARS - 3].rstrip() + "..."


def _wrap(response: AdmissionResponse) -> AdmissionReview:
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def _with_warnings(response: AdmissionResponse, warnings: Sequence[str]) -> AdmissionResponse:
    if warnings:
        response["warnings"] = [warning(w) for w in warnings]
    return response


def allow(uid: str, warnings: Sequence[str] = ()) -> AdmissionReview:
    """Allow unchanged."""
    return _wrap(_with_warnings({"uid": uid, "allowed": True}, warnings))


def allow_with_patch(
    uid: str, patch: Sequence[PatchOperation], warnings: Sequence[str] = ()
) -> AdmissionReview:
    """Allow with a JSON patch (an empty patch is omitted)."""
    response: AdmissionResponse = {"uid": uid, "allowed": True}
    if patch:
        response["patch"] = base64.b64encode(orjson.dumps(list(patch))).decode("ascii")
        response["patchType"] = PATCH_TYPE
    return _wrap(_with_warnings(response, warnings))


def deny(uid: str, message: str, warnings: Sequence[str] = ()) -> AdmissionReview:
    """Deny with 403 Forbidden: kubectl prints ``admission webhook "NAME" denied ...: M``."""
    response: AdmissionResponse = {
        "uid": uid,
        "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": message},
    }
    return _wrap(_with_warnings(response, warnings))


def decoded_patch(review: AdmissionReview) -> list[dict[str, Any]]:
    """The patch of a response as a list (empty when there is none); for tests and tools."""
    response: dict[str, Any] = dict(review.get("response") or {})
    if "patch" not in response:
        return []
    return cast(list[dict[str, Any]], orjson.loads(base64.b64decode(response["patch"])))
