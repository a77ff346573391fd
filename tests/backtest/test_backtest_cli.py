"""``import`` and ``backtest`` commands end to end on small files."""

from __future__ import annotations

import json
from pathlib import Path

from recommender.cli import main
from recommender.input.csv_history import read_history, write_history
from tests.backtest.test_replay import noisy

FIXTURES = Path(__file__).parent / "fixtures"


def test_import_writes_a_history_csv(tmp_path, capsys):
    out = tmp_path / "h.csv.gz"
    assert main(["import", "--format", "bitbrains", str(FIXTURES / "bitbrains-dev.csv"),
                 "--output", str(out)]) == 0
    samples = read_history(out)
    assert set(samples.workload) == {"VM/2", "VM/4"}
    assert "6 samples written" in capsys.readouterr().err


def test_import_alibaba_genai_memory_scale(tmp_path):
    out = tmp_path / "g.csv"
    assert main(["import", "--format", "alibaba-genai", str(FIXTURES / "alibaba-genai"),
                 "--genai-memory-limit", "1000", "--output", str(out)]) == 0
    memory = sorted(v for *_, r, v in read_history(out).rows() if r == "memory")
    assert memory == [0.0, 250.0, 500.0]


def test_backtest_table_json_and_html(tmp_path, capsys):
    history = tmp_path / "h.csv"
    with open(history, "w") as out:
        write_history(noisy(2.0), out)
    report, chart = tmp_path / "b.json", tmp_path / "b.html"
    assert main(["backtest", "--history", str(history), "--json", str(report),
                 "--html", str(chart), "--per-workload"]) == 0
    table = capsys.readouterr().out
    for name in ("vpa", "tidal", "percentile", "shop/Deployment/web/app"):
        assert name in table
    doc = json.loads(report.read_text())
    assert [s["strategy"] for s in doc["strategies"]] == ["vpa", "tidal", "percentile"]
    cpu = doc["strategies"][0]["overall"]["cpu"]
    assert 0.0 <= cpu["slack"] <= 1.0 and cpu["hours"] == 2 * 24  # day 2, two workloads
    assert set(doc["strategies"][1]["workloads"]) == {
        "shop/Deployment/batch/app", "shop/Deployment/web/app"
    }
    page = chart.read_text()
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_backtest_errors_are_clean(tmp_path, capsys):
    history = tmp_path / "h.csv"
    with open(history, "w") as out:
        write_history(noisy(0.2), out)
    assert main(["backtest", "--history", str(history), "--strategy", "nope"]) == 2
    assert "valid strategies" in capsys.readouterr().err
    assert main(["backtest", "--history", str(history), "--every", "soon"]) == 2
    assert "invalid duration" in capsys.readouterr().err
