"""The next-hours annotation: written for VPAs resized in place, read by the updater."""

from __future__ import annotations

import json

from recommender.cluster.next_hours import (
    ANNOTATION,
    annotation_patch,
    annotation_value,
    with_next_hours,
)
from recommender.recommendation import ContainerRecommendation
from tests.cluster.objects import vpa_object


def rec(cpu: float) -> ContainerRecommendation:
    values = {"cpu": cpu, "memory": 2.0**28}
    return ContainerRecommendation("app", dict(values), dict(values), dict(values), dict(values))


def annotated(mode: str, text: str | None) -> dict:
    obj = vpa_object("shop", "web", "web", updatePolicy={"updateMode": mode})
    obj["status"] = {"recommendation": {"containerRecommendations": [
        {"containerName": "app", "target": {"cpu": "900m"}}]}}
    if text is not None:
        obj["metadata"]["annotations"] = {ANNOTATION: text}
    return obj


def test_value_has_the_status_shape():
    value = json.loads(annotation_value([rec(0.25)], None))
    (entry,) = value["containerRecommendations"]
    assert entry["containerName"] == "app" and entry["target"] == {
        "cpu": "250m", "memory": "256Mi"}


def test_patch_sets_only_when_a_quantity_moved_and_removes_when_not_in_place():
    fresh = annotated("InPlaceOrRecreate", None)
    patch = annotation_patch(fresh, [rec(0.25)], None, 0.03)
    assert patch is not None
    text = patch["metadata"]["annotations"][ANNOTATION]
    current = annotated("InPlaceOrRecreate", text)
    assert annotation_patch(current, [rec(0.255)], None, 0.03) is None  # within 3%
    assert annotation_patch(current, [rec(0.4)], None, 0.03) is not None
    assert annotation_patch(current, None, None, 0.03) == {
        "metadata": {"annotations": {ANNOTATION: None}}}  # mode changed: removed
    assert annotation_patch(annotated("Initial", None), None, None, 0.03) is None


def test_updater_view_uses_next_hours_only_for_in_place_modes():
    text = annotation_value([rec(0.25)], None)
    moving = with_next_hours(annotated("InPlaceOrRecreate", text))
    (entry,) = moving["status"]["recommendation"]["containerRecommendations"]
    assert entry["target"]["cpu"] == "250m"
    held = annotated("Recreate", text)
    assert with_next_hours(held) is held  # an evicting mode sizes new pods: held targets
    broken = annotated("InPlace", "{not json")
    assert with_next_hours(broken) is broken  # unreadable: the status's held targets apply
