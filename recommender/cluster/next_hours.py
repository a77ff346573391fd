"""Next-hours targets of VPAs whose pods are resized in place.

A VPA's status always carries *held* targets: they hold for a pod's life whatever hour it is
created at, so any webhook (Tidal's or upstream's) sizes new pods safely from them, and any
updater that reads the status applies safe numbers. For a VPA with an in-place ``updateMode``
(``InPlace``, ``InPlaceOrRecreate``) the recommender also publishes the coming hours' targets in
the annotation :data:`ANNOTATION`, as JSON shaped like ``status.recommendation``; Tidal's
updater resizes running pods to those, so they follow the tide.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from recommender.cluster.status import Numbers, numbers_close, numbers_of, recommendation_numbers
from recommender.quantity import Rounding
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import IN_PLACE_MODES

ANNOTATION = "tidal.dev/next-hours-recommendation"

log = logging.getLogger(__name__)


def annotation_value(
    recommendations: Sequence[ContainerRecommendation], rounding: Rounding | None
) -> str:
    """The annotation's JSON: ``{"containerRecommendations": [...]}`` as in the status."""
    entries = [r.to_status(rounding) for r in sorted(recommendations, key=lambda r: r.container)]
    return json.dumps({"containerRecommendations": entries}, separators=(",", ":"))


def read(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The next-hours recommendation a VPA object carries; None when absent or unreadable
    (logged: the status's held targets then apply)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(ANNOTATION)
    if not text:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        meta = obj.get("metadata") or {}
        log.warning("%s/%s: annotation %s is not JSON (%s): held targets apply",
                    meta.get("namespace"), meta.get("name"), ANNOTATION, exc)
        return None
    if not isinstance(value, dict) or not isinstance(value.get("containerRecommendations"), list):
        return None
    return value


def in_place(obj: Mapping[str, Any]) -> bool:
    """True when the VPA object's ``updateMode`` resizes pods in place."""
    update = (obj.get("spec") or {}).get("updatePolicy") or {}
    return isinstance(update, Mapping) and update.get("updateMode") in IN_PLACE_MODES


def with_next_hours(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The VPA as Tidal's updater sees it: for an in-place mode with the annotation, its
    status recommendation replaced by the next-hours one; otherwise ``obj`` itself."""
    if not in_place(obj):
        return obj
    recommendation = read(obj)
    if recommendation is None:
        return obj
    status = dict(obj.get("status") or {})
    status["recommendation"] = recommendation
    return {**obj, "status": status}


def annotation_patch(
    obj: Mapping[str, Any],
    recommendations: Sequence[ContainerRecommendation] | None,
    rounding: Rounding | None,
    tolerance: float,
) -> dict[str, Any] | None:
    """The merge patch that brings the annotation up to date, or None when it already is:
    set when a quantity moved by more than ``tolerance``, removed (``None``) when the VPA no
    longer gets next-hours targets."""
    current = read(obj)
    if recommendations is None:
        if ANNOTATION not in ((obj.get("metadata") or {}).get("annotations") or {}):
            return None
        value: str | None = None
    else:
        before: Numbers | None = recommendation_numbers(current) if current else None
        if before is not None and numbers_close(before, numbers_of(recommendations), tolerance):
            return None
        value = annotation_value(recommendations, rounding)
    return {"metadata": {"annotations": {ANNOTATION: value}}}
