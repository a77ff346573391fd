"""Every rendered object validates strictly against the Kubernetes OpenAPI schemas.

Schemas: the ``kubernetes-validate`` package, which ships the JSON schemas generated from the
Kubernetes OpenAPI documents for each release (offline). ``strict`` rejects unknown fields.
Custom resources (cert-manager) have no schema there and are checked in test_overlays.py.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.manifests.conftest import render

# The oldest release we install on (preStop sleep is on by default from 1.30) and the newest.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
CUSTOM_KINDS = {("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer")}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_matches_the_kubernetes_schema(variant: str, version: str) -> None:
    checked = 0
    for obj in render(variant):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
        checked += 1
    assert checked >= 15


def test_strict_validation_catches_a_misspelt_field() -> None:
    """Guards the test above: the validator really rejects unknown fields and wrong types."""
    deployment = next(o for o in render("base") if o["kind"] == "Deployment")
    typo = copy.deepcopy(deployment)
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.37.0", strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "3"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, "1.37.0", strict=True)


def test_all_objects_have_unique_identities(variant: str) -> None:
    keys = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in render(variant)
    ]
    assert len(keys) == len(set(keys))
