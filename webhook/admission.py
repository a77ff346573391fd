"""The admission engine: a decoded AdmissionReview and the cluster state in, a response out.

No HTTP here. :func:`admit` dispatches by the request's resource to the pod mutator or the
HPA/VPA validator and never raises: internal errors fail open (``FAIL_OPEN``) with a warning.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recommender.vpa import GROUP as VPA_GROUP
from recommender.vpa import PLURAL as VPA_PLURAL
from recommender.vpa import parse_vpa, validate_vpa
from webhook import review as rv
from webhook.conflicts import (
    Conflict,
    duplicate_vpa,
    find_conflict,
    forecast_note,
    hpa_conflict,
    template_of,
    vpa_conflict,
)
from webhook.hpa import parse_hpa
from webhook.memo import PatchMemo
from webhook.state import ClusterState
from webhook.wire import AdmissionRequest, AdmissionReview

log = logging.getLogger(__name__)

# Answer "allowed" when the webhook itself fails; the pod webhook never rejects anything.
FAIL_OPEN = True

POD = ("", "pods")
HPA = ("autoscaling", "horizontalpodautoscalers")
VPA = (VPA_GROUP, VPA_PLURAL)
CHECKED_OPERATIONS = ("CREATE", "UPDATE")

# Pod patches of this process, reused for replicas of one template (webhook.memo).
PATCHES = PatchMemo()

NO_CLUSTER = "no cluster connection"
NOT_SYNCED = "cluster caches not synced yet"


@dataclass(frozen=True)
class Verdict:
    """The response to send, and labels for metrics and logs."""

    response: AdmissionReview
    kind: str  # pod, hpa, vpa, other
    decision: str  # patched, unchanged, allowed, denied, skipped
    fail_open: bool = False
    dry_run: bool = False


def admit(review: AdmissionReview, state: ClusterState, *, mutating: bool) -> Verdict:
    """Decide one admission (``mutating``: the /mutate endpoint, else /validate)."""
    request = review["request"]
    group = request["resource"].get("group", "")
    target = (group, request["resource"].get("resource", ""))
    dry_run = bool(request.get("dryRun"))
    handler = (_mutate_pod if target == POD else None) if mutating else _VALIDATORS.get(target)
    kind = {POD: "pod", HPA: "hpa", VPA: "vpa"}.get(target, "other")
    if handler is None:
        what = f"{group}/{target[1]}" if group else target[1]
        note = f"tidal: no {'mutation' if mutating else 'validation'} for {what}; allowed unchanged"
        return Verdict(rv.allow(request["uid"], [note]), kind, "skipped", dry_run=dry_run)
    problem = malformed_metadata(request)
    if problem:
        note = f"tidal: {kind} allowed unchanged: {problem}"
        return Verdict(rv.allow(request["uid"], [note]), kind, "skipped", dry_run=dry_run)
    try:
        response, decision = handler(request, state)
    except Exception as exc:
        _log_failure(exc, kind, request)
        if not FAIL_OPEN:
            raise
        note = f"tidal: {kind} allowed unchanged after a webhook error ({type(exc).__name__})"
        return Verdict(rv.allow(request["uid"], [note]), kind, "allowed", True, dry_run)
    return Verdict(response, kind, decision, dry_run=dry_run)


_TRACED: set[tuple[str, str, int]] = set()  # failure causes whose traceback was logged


def _log_failure(exc: Exception, kind: str, request: AdmissionRequest) -> None:
    """One line per failed admission, naming the cause and where it was raised; the full
    traceback only the first time a cause appears (a bug hit by every pod must not flood the
    log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = frames[-1] if frames else None
    cause = (type(exc).__name__, where.filename if where else "?", where.lineno or 0 if where
             else 0)
    first = cause not in _TRACED
    if first and len(_TRACED) < 1000:
        _TRACED.add(cause)
    location = f"{os.path.basename(cause[1])}:{cause[2]}"
    log.error("admission of %s %s/%s failed open: %s: %s (at %s)%s", kind, _namespace(request),
              _name(request), cause[0], exc, location,
              "" if first else "; traceback logged at its first occurrence",
              exc_info=exc if first else None)


def _object(request: AdmissionRequest) -> dict[str, Any]:
    obj = request.get("object")
    return obj if isinstance(obj, dict) else {}


def _metadata(request: AdmissionRequest) -> dict[str, Any]:
    meta = _object(request).get("metadata")
    return meta if isinstance(meta, dict) else {}


def malformed_metadata(request: AdmissionRequest) -> str:
    """What is wrong with the object's metadata ("" when nothing): ``metadata`` not an object,
    or its name, generateName, namespace, labels or annotations not strings (or maps of them).

    The apiserver never sends such an object (it decodes and validates it first), so the
    webhook allows it unchanged rather than size, resolve or log it: a 1,000-deep map as a
    name once made even the fail-open answer raise ``RecursionError`` (HTTP 500).
    """
    obj = request.get("object")
    if not isinstance(obj, dict) or "metadata" not in obj or obj["metadata"] is None:
        return ""
    meta = obj["metadata"]
    if not isinstance(meta, dict):
        return "object.metadata is not an object"
    for key in ("name", "generateName", "namespace"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            return f"object.metadata.{key} is not a string"
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            return f"object.metadata.{key} is not a map of strings"
    return ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _namespace(request: AdmissionRequest) -> str:
    """The request's namespace; never the text of a non-string (which may be 1,000 deep)."""
    meta = _metadata(request)
    return _text(request.get("namespace")) or _text(meta.get("namespace")) or "default"


def _name(request: AdmissionRequest) -> str:
    meta = _metadata(request)
    names = (request.get("name"), meta.get("name"), meta.get("generateName"))
    return next((name for name in names if isinstance(name, str) and name), "")


def _no_state(state: ClusterState) -> str:
    return NOT_SYNCED if state.enabled else NO_CLUSTER


def _with_namespace(obj: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta.setdefault("namespace", namespace)
    return {**obj, "metadata": meta}


def _mutate_pod(request: AdmissionRequest, state: ClusterState) -> tuple[AdmissionReview, str]:
    uid = request["uid"]
    pod = _object(request)
    if request["operation"] != "CREATE" or not pod or request.get("subResource"):
        return rv.allow(uid), "skipped"
    if not state.synced:
        return rv.allow(uid, [f"tidal: pod admitted unchanged: {_no_state(state)}"]), "skipped"
    namespace = _namespace(request)
    result = PATCHES.pod_patch(pod, namespace, state)
    if not request.get("dryRun"):
        log.debug(
            "pod %s/%s: %s, %d patch operations",
            namespace, _name(request), result.plan.reason, len(result.patch),
        )  # fmt: skip
    if not result.patch:
        return rv.allow(uid), "unchanged"
    return rv.allow_with_patch(uid, result.patch), "patched"


def _validate_hpa(request: AdmissionRequest, state: ClusterState) -> tuple[AdmissionReview, str]:
    uid = request["uid"]
    obj = _object(request)
    if request["operation"] not in CHECKED_OPERATIONS or not obj or request.get("subResource"):
        return rv.allow(uid), "skipped"
    version = "v1" if request["kind"].get("version") == "v1" else "v2"
    try:
        hpa = parse_hpa(_with_namespace(obj, _namespace(request)), version)
    except ValueError:
        return rv.allow(uid), "allowed"  # the apiserver's own validation rejects it
    if not state.synced:
        return rv.allow(
            uid, [f"tidal: HPA/VPA conflict checks skipped: {_no_state(state)}"]
        ), "skipped"
    vpas = [entry.vpa for entry in state.vpas(hpa.namespace)]
    template = template_of(state, hpa.namespace, hpa.target_kind, hpa.target_name)
    conflict = hpa_conflict(hpa, vpas, template)
    if conflict:
        if _conflicted_before(request, conflict, state):
            return rv.allow(uid, conflict.warnings()), "allowed"
        return rv.deny(uid, conflict.hpa_denial()), "denied"
    note = forecast_note(hpa, vpas)
    return rv.allow(uid, [note] if note else []), "allowed"


def _validate_vpa(request: AdmissionRequest, state: ClusterState) -> tuple[AdmissionReview, str]:
    uid = request["uid"]
    obj = _object(request)
    if request["operation"] not in CHECKED_OPERATIONS or not obj or request.get("subResource"):
        return rv.allow(uid), "skipped"
    obj = _with_namespace(obj, _namespace(request))
    errors = validate_vpa(obj)
    if errors:
        name = f"{_namespace(request)}/{_name(request)}"
        return rv.deny(
            uid, f"VerticalPodAutoscaler {name} is invalid: " + "; ".join(errors)
        ), "denied"
    vpa = parse_vpa(obj)
    if not state.synced:
        return rv.allow(
            uid, [f"tidal: HPA/VPA conflict checks skipped: {_no_state(state)}"]
        ), "skipped"
    others = [entry.vpa for entry in state.vpas(vpa.namespace)]
    hpas = list(state.hpas(vpa.namespace))
    message = duplicate_vpa(vpa, others)
    if message:
        return rv.deny(uid, message), "denied"
    ref = vpa.target_ref
    template = template_of(state, vpa.namespace, ref.kind, ref.name) if ref else None
    conflict = vpa_conflict(vpa, hpas, template) if template else None
    if conflict:
        if _conflicted_before(request, conflict, state):
            return rv.allow(uid, conflict.warnings()), "allowed"
        return rv.deny(uid, conflict.vpa_denial()), "denied"
    notes = [n for hpa in hpas if (n := forecast_note(hpa, [vpa]))]
    return rv.allow(uid, notes[:1]), "allowed"


def _conflicted_before(request: AdmissionRequest, conflict: Conflict, state: ClusterState
                       ) -> bool:
    """Whether an UPDATE's ``oldObject`` was in conflict with the same partner already (as
    objects applied before the webhook was installed, and updated by GitOps, are)."""
    old = request.get("oldObject")
    if request["operation"] != "UPDATE" or not isinstance(old, dict):
        return False
    old = _with_namespace(old, _namespace(request))
    hpa, vpa = conflict.hpa, conflict.vpa
    try:
        if request["resource"].get("resource") == HPA[1]:
            version = "v1" if request["kind"].get("version") == "v1" else "v2"
            hpa = parse_hpa(old, version)
        else:
            vpa = parse_vpa(old)
    except ValueError:
        return False  # the old object was not valid: nothing to keep working
    template = template_of(state, hpa.namespace, hpa.target_kind, hpa.target_name)
    return find_conflict(hpa, vpa, template) is not None


_VALIDATORS = {HPA: _validate_hpa, VPA: _validate_vpa}
