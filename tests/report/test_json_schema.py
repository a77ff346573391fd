"""The JSON report validates against the schema shipped in the package."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from recommender.report.formats.json_doc import schema


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def test_schema_is_valid_and_shipped_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_demo_report_validates(demo_outputs: dict[str, str]) -> None:
    doc = json.loads(demo_outputs["json"])
    _validator().validate(doc)
    assert doc["kind"] == "RecommendationReport"
    assert {c["status"] for c in doc["containers"]} >= {"under", "over"}


def test_report_without_workloads_validates(demo_csv, capsys) -> None:  # type: ignore[no-untyped-def]
    from recommender.cli import main

    code = main(["report", "--history", str(demo_csv), "--format", "json",
                 "--generated-at", "2026-11-01T00:00:00Z"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    _validator().validate(doc)
    assert {c["status"] for c in doc["containers"]} == {"unknown"}
    assert any("No --workloads" in note for note in doc["notes"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("summary"),
        lambda d: d["containers"][0].update(status="fine"),
        lambda d: d["containers"][0]["resources"][0].update(resource="disk"),
        lambda d: d["prices"].update(hoursPerMonth=720),
        lambda d: d["containers"][0]["proposal"]["requests"].update(cpu="two"),
        lambda d: d.update(extra=1),
    ],
)
def test_schema_rejects_broken_documents(mutate, demo_outputs: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(json.loads(demo_outputs["json"]))
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(doc)
