"""Offline commands give held targets, the same whatever hour they run; ``--horizon
next-hours`` gives the coming hours'; the tide is shown beside them."""

from __future__ import annotations

import json

import pytest

from recommender.cli import main
from recommender.input.csv_history import write_history
from recommender.input.demo import DEMO_END, generate

HOUR = 3600.0


@pytest.fixture(scope="module")
def demo():
    """Five demo days ending at 23:00 UTC on the last one."""
    return generate(5, 42, DEMO_END + 23 * HOUR)


def history_until(demo, tmp_path, hour: int):
    """The demo history as if the command ran at ``hour``:00 UTC on its last day."""
    path = tmp_path / f"until-{hour}.csv"
    with open(path, "w") as out:
        write_history(demo.select(demo.timestamp < DEMO_END + hour * HOUR), out)
    return path


def targets(capsys, path, *flags: str) -> dict[tuple[str, str], dict]:
    assert main(["recommend", "--history", str(path), "--format", "json", *flags]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {(e["workload"], e["container"]): e for e in doc["recommendations"]}


def test_recommend_gives_the_same_numbers_at_06_and_at_18(demo, tmp_path, capsys):
    morning = targets(capsys, history_until(demo, tmp_path, 6))
    evening = targets(capsys, history_until(demo, tmp_path, 18))
    web = ("Deployment/web", "web")
    assert {k: e["target"] for k, e in morning.items()} == {
        k: e["target"] for k, e in evening.items()}
    # What an in-place VPA carries moves with the tide...
    early = targets(capsys, history_until(demo, tmp_path, 6), "--horizon", "next-hours")
    late = targets(capsys, history_until(demo, tmp_path, 18), "--horizon", "next-hours")
    assert early[web]["target"]["cpu"] != late[web]["target"]["cpu"]
    # ... and is shown beside the held target: 24 values by UTC hour, low at 04:00, high
    # in the afternoon, the held target near the top of the day.
    profile = morning[web]["hourlyProfile"]["cpu"]
    assert len(profile) == 24
    from recommender.quantity import parse_quantity

    values = [parse_quantity(v) for v in profile]
    assert values[4] < values[15]
    assert parse_quantity(morning[web]["target"]["cpu"]) > values[4]


def test_table_and_report_show_the_tide(demo, tmp_path, capsys):
    path = history_until(demo, tmp_path, 12)
    assert main(["recommend", "--history", str(path)]) == 0
    table = capsys.readouterr().out
    assert "IN PLACE BY HOUR (UTC 00-23)" in table.splitlines()[0]
    assert any("▁" in line and "█" in line for line in table.splitlines()[1:])
    assert main(["report", "--history", str(path)]) == 0
    assert "in place, cpu by UTC hour: " in capsys.readouterr().out
    assert main(["report", "--history", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lines = [ln for c in doc["containers"] for ln in c["resources"] if "hourlyProfile" in ln]
    assert lines and all(len(ln["hourlyProfile"]) == 24 for ln in lines)


def test_vpa_strategy_has_no_tide(demo, tmp_path, capsys):
    found = targets(capsys, history_until(demo, tmp_path, 12), "--strategy", "vpa")
    assert all("hourlyProfile" not in e for e in found.values())
