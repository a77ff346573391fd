"""Shared fixtures: a small demo history on disk and the report built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.cli import main
from recommender.input.csv_history import write_history
from recommender.input.demo import generate

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "examples" / "demo-workloads.yaml"
VPAS = ROOT / "examples" / "demo-vpas.yaml"
GOLDEN = Path(__file__).parent / "golden"
GENERATED_AT = "2026-11-01T00:00:00Z"
DAYS, SEED = 3, 7
# Upstream VPA's numbers: the golden files test the report, not the evolving default strategy.
STRATEGY = "vpa"


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "demo-history.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        write_history(generate(days=DAYS, seed=SEED), out)
    return path


def report_args(demo_csv: Path, *extra: str) -> list[str]:
    return [
        "report", "--history", str(demo_csv), "--workloads", str(WORKLOADS),
        "--policy", str(VPAS), "--gpu-model", "A100-80GB", "--generated-at", GENERATED_AT,
        "--strategy", STRATEGY, *extra,
    ]


@pytest.fixture
def run_report(demo_csv: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``tidal-recommender report`` on the demo; returns (exit code, stdout, stderr)."""

    def run(*extra: str) -> tuple[int, str, str]:
        code = main(report_args(demo_csv, *extra))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def demo_outputs(demo_csv: Path) -> dict[str, str]:
    """Every format rendered once for the session (the golden inputs)."""
    import contextlib
    import io

    from recommender.report.formats import FORMATS

    out = {}
    for name in FORMATS.names():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(report_args(demo_csv, "--format", name, "--color", "never")) == 0
        out[name] = buffer.getvalue()
    return out
