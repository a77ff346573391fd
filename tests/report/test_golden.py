"""Golden files: every format on the seeded demo history. Regenerate with
``UPDATE_GOLDEN=1 pytest tests/report/test_golden.py`` and review the diff."""

from __future__ import annotations

import os

import pytest

from recommender.report.formats import FORMATS
from tests.report.conftest import GOLDEN

EXTENSIONS = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md", "html": "html",
              "patch": "sh", "vpa": "yaml", "dra": "dra.yaml"}


def test_every_format_has_a_golden_file() -> None:
    assert set(FORMATS.names()) == set(EXTENSIONS)


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_golden(name: str, demo_outputs: dict[str, str]) -> None:
    path = GOLDEN / f"demo.{EXTENSIONS[name]}"
    text = demo_outputs[name]
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} output changed; see {path}"


def test_outputs_are_deterministic(run_report) -> None:  # type: ignore[no-untyped-def]
    first = run_report("--format", "json")
    second = run_report("--format", "json")
    assert first == second


def test_source_date_epoch_fixes_the_timestamp(
    demo_csv, capsys, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    from recommender.cli import main

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1793491200")
    args = ["report", "--history", str(demo_csv), "--format", "json"]
    assert main(args) == 0
    assert '"generatedAt": "2026-11-01T00:00:00Z"' in capsys.readouterr().out
