"""``forecast`` (the CSV contract), ``backtest --replicas`` and ``import --workload``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from recommender.cli import main
from recommender.history import Samples
from recommender.input.csv_history import read_history, write_history

DAY = 86400
T0 = 1_700_006_400  # a UTC midnight


def tide_history(path: Path, days: int = 3, gpu: bool = False) -> Path:
    """Two pods of shop/Deployment/web: 1 core each at night, 4 from 09:00 to 17:00, one
    sample a minute at 17 s past; plus the same pattern as busy GPUs when ``gpu``."""
    rows = []
    rng = np.random.default_rng(0)
    for i in range(days * 1440):
        t = T0 + 60 * i + 17
        busy = 9 <= (i % 1440) / 60 < 17
        for pod in ("web-a", "web-b"):
            cpu = (4.0 if busy else 1.0) + rng.uniform(0, 0.05)
            rows.append((t, "shop", "Deployment/web", pod, "app", "cpu", cpu))
            if gpu:
                rows.append((t, "shop", "Deployment/web", pod, "app", "gpu", cpu / 5))
    with open(path, "w") as out:
        write_history(Samples.from_rows(rows), out)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_forecast_contract_columns_steps_and_values(tmp_path):
    history = tide_history(tmp_path / "h.csv")
    out = tmp_path / "f.csv"
    assert main(["forecast", "--history", str(history), "--lead", "15m", "--every", "5m",
                 "--output", str(out)]) == 0
    rows = read_csv(out)
    assert list(rows[0]) == ["timestamp", "namespace", "workload", "signal", "forecast"]
    times = [int(r["timestamp"]) for r in rows]
    assert all(t % 300 == 0 for t in times)
    assert times[0] == T0 + 300  # the first step with a sample before it
    assert times == sorted(times) and len(set(times)) == len(times)
    assert {(r["namespace"], r["workload"], r["signal"]) for r in rows} == {
        ("shop", "Deployment/web", "cpu")}
    value = {int(r["timestamp"]): float(r["forecast"]) for r in rows}
    # Day 3, 08:50: the rise at 09:00 is inside [t, t + 15m] and known from the days before.
    assert value[T0 + 2 * DAY + 8 * 3600 + 50 * 60] > 7.5
    # Day 1 at the same time there is no precedent: the recent level (two pods at ~1 core).
    assert value[T0 + 8 * 3600 + 50 * 60] == pytest.approx(2.0, abs=0.15)


def test_forecast_gpu_signal_and_stdout(tmp_path, capsys):
    history = tide_history(tmp_path / "h.csv", days=1, gpu=True)
    assert main(["forecast", "--history", str(history), "--signal", "gpu", "--lead", "10m",
                 "--every", "10m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "timestamp,namespace,workload,signal,forecast"
    first = lines[1].split(",")
    assert first[1:4] == ["shop", "Deployment/web", "gpu"]
    assert float(first[4]) == pytest.approx(0.41, abs=0.02)  # two pods ~0.2 busy GPUs each
    assert all(int(line.split(",")[0]) % 600 == 0 for line in lines[1:])


@pytest.mark.parametrize(("args", "message"), [
    (["--lead", "soon"], "--lead: invalid duration 'soon'"),
    (["--every", "0"], "--every must be positive"),
    (["--signal", "gpu"], "no gpu samples for --signal gpu"),
])
def test_forecast_errors_are_one_line(tmp_path, capsys, args, message):
    history = tide_history(tmp_path / "h.csv", days=1)
    assert main(["forecast", "--history", str(history), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_backtest_replicas_table_json_html(tmp_path, capsys):
    history = tide_history(tmp_path / "h.csv", days=3)
    report, chart = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["backtest", "--history", str(history), "--replicas", "--cold-start", "10m",
                 "--json", str(report), "--html", str(chart), "--per-workload"]) == 0
    table = capsys.readouterr().out
    assert "cold start 10m, forecast lead 15m" in table
    for name in ("static-peak", "reactive", "tidal", "naive (ref)", "oracle (ref)",
                 "shop/Deployment/web"):
        assert name in table
    doc = json.loads(report.read_text())
    assert doc["cold_start_s"] == 600 and doc["lead_s"] == 900 and doc["signal"] == "cpu"
    by_name = {s["name"]: s for s in doc["strategies"]}
    assert by_name["tidal"]["under_capacity"] < by_name["reactive"]["under_capacity"] / 2
    assert by_name["tidal"]["replica_hours"] <= 1.25 * by_name["reactive"]["replica_hours"]
    assert by_name["reactive"]["workloads"][0]["workload"] == "Deployment/web"
    page = chart.read_text()
    assert page.count("<svg") == 1 and "ready capacity, tidal" in page and "cores" in page


def test_backtest_replicas_gpu_hours(tmp_path, capsys):
    history = tide_history(tmp_path / "h.csv", days=2, gpu=True)
    assert main(["backtest", "--history", str(history), "--replicas", "--signal", "gpu",
                 "--gpus-per-replica", "2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    reactive = next(s for s in doc["strategies"] if s["name"] == "reactive")
    assert doc["unit"] == "busy GPUs"
    assert reactive["gpu_hours"] == pytest.approx(2 * reactive["replica_hours"])


@pytest.mark.parametrize(("args", "message"), [
    (["--warmup", "5d"], "--warmup 5d is not shorter than the history"),
    (["--replica-capacity", "p99/0"], "--replica-capacity: invalid replica capacity"),
    (["--target-utilization", "1.5"], "--target-utilization must be in (0, 1]"),
    (["--cold-start=-5m"], "--cold-start: invalid duration"),
])
def test_backtest_replicas_errors(tmp_path, capsys, args, message):
    history = tide_history(tmp_path / "h.csv", days=1)
    assert main(["backtest", "--history", str(history), "--replicas", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_import_puts_every_pod_in_one_workload(tmp_path, capsys):
    fixtures = Path(__file__).parents[1] / "backtest" / "fixtures" / "alibaba-genai"
    out = tmp_path / "g.csv"
    assert main(["import", "--format", "alibaba-genai", str(fixtures), "--workload",
                 "Deployment/sd-serving", "--output", str(out)]) == 0
    samples = read_history(out)
    assert set(samples.workload) == {"Deployment/sd-serving"} and len(set(samples.pod)) > 1
    assert main(["import", "--format", "alibaba-genai", str(fixtures), "--workload",
                 "sd-serving"]) == 2
    assert "expected KIND/NAME" in capsys.readouterr().err
