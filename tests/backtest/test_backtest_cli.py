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


def test_per_workload_rows_have_their_own_column_sorted_naturally_and_a_legend() -> None:
    from recommender.backtest.report import render_table
    from recommender.backtest.score import Backtest, Score

    score = Score(samples=10, slack=0.5, under=0.1, under_hours=0.2, hours=5,
                  mean_target=1.0, mean_usage=0.5)
    workloads = {f"bb/VM/{n}/vm": {"cpu": score} for n in (10, 2, 1)}
    text = render_table([Backtest("vpa", {"cpu": score}, workloads)], per_workload=True)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("strategy  workload"))
    assert header.split()[:3] == ["strategy", "workload", "resource"]
    order = [line.split()[1] for line in lines if line.startswith("vpa       bb/")]
    assert order == ["bb/VM/1/vm", "bb/VM/2/vm", "bb/VM/10/vm"]
    assert "slack: share of the target left idle" in text


def test_replay_reports_progress_to_the_end() -> None:
    from recommender.backtest.replay import replay
    from recommender.logic.strategies import VpaStrategy
    from tests.backtest.test_replay import noisy

    calls: list[tuple[int, int]] = []
    table = replay(noisy(2.0), VpaStrategy(), progress=lambda done, total: calls.append(
        (done, total)))
    assert calls and calls[-1] == (len(table.steps), len(table.steps))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) <= 101
