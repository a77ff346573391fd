"""Running admissions in-process against a cluster state built from fixtures."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from webhook.admission import Verdict, admit
from webhook.review import decode, decoded_patch
from webhook.state import ClusterState
from webhook.wire import API_VERSION

from . import builders as b


def assert_valid_response(response: dict, uid: str) -> None:
    """The response shape the apiserver requires."""
    assert response["apiVersion"] == API_VERSION
    assert response["kind"] == "AdmissionReview"
    assert response["response"]["uid"] == uid
    assert isinstance(response["response"]["allowed"], bool)
    for text in response["response"].get("warnings", []):
        assert len(text) < 120


def run(review: dict, objects: list[dict] | ClusterState, *, mutating: bool = True) -> Verdict:
    state = objects if isinstance(objects, ClusterState) else ClusterState.from_objects(objects)
    decoded = decode(json.dumps(review).encode())
    sent = copy.deepcopy(decoded)
    verdict = admit(decoded, state, mutating=mutating)
    assert decoded == sent, "admission must not modify the request"
    assert_valid_response(dict(verdict.response), review["request"]["uid"])
    return verdict


def mutate(pod: dict, objects: list[dict] | ClusterState, **kw: Any) -> tuple[Verdict, dict, list]:
    """Admit ``pod``; returns the verdict, the pod with the patch applied, and the patch."""
    review = b.review(pod, **kw)
    verdict = run(review, objects)
    patch = decoded_patch(verdict.response)
    for op in patch:
        assert op["op"] in ("add", "replace")
    patched = jsonpatch.apply_patch(pod, patch, in_place=False)
    return verdict, patched, patch


def resources(pod: dict, index: int = 0) -> dict:
    return pod["spec"]["containers"][index].get("resources", {})
