"""``tidal-recommender report``: data on stdout, messages on stderr, --fail-on exit codes."""

from __future__ import annotations

import json

import pytest

from recommender.report.gate import Gate, parse_gate


def test_fail_on_under_exits_1_and_explains_on_stderr(run_report) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_report("--format", "json", "--fail-on", "under")
    assert code == 1
    json.loads(out)  # stdout is only the document
    assert "shop/Deployment/cart/cart memory: under-provisioned" in err
    assert "fail-on" in err


def test_fail_on_thresholds(run_report) -> None:  # type: ignore[no-untyped-def]
    # cart memory wants +190%: under:200 passes, under:150 fails.
    assert run_report("--format", "csv", "--fail-on", "under:200")[0] == 0
    assert run_report("--format", "csv", "--fail-on", "under:150")[0] == 1
    # The largest cut is etl memory (-70%) and the embedder GPU (-71%).
    assert run_report("--format", "csv", "--fail-on", "over:75")[0] == 0
    code, _, err = run_report("--format", "csv", "--fail-on", "over:70")
    assert code == 1
    assert "embedder gpu: over-provisioned" in err and "cart" not in err


def test_no_fail_on_exits_0_with_empty_stderr(run_report) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_report("--format", "table")
    assert code == 0 and out.startswith("Tidal recommendation report") and err == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (("--fail-on", "sideways"), "expected under, over"),
        (("--fail-on", "over:lots"), "not a percentage"),
        (("--price-cpu", "cheap"), "--price-cpu: 'cheap' is not a number"),
        (("--price-gpu", "B200=3"), "unknown GPU model"),
        (("--generated-at", "yesterday"), "not an ISO 8601 time"),
    ],
)
def test_usage_errors_exit_2(run_report, args, message) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_report(*args)
    assert code == 2 and out == ""
    assert message in err


def test_parse_gate() -> None:
    assert parse_gate("under") == Gate("under", None)
    assert parse_gate("over:25%") == Gate("over", 25.0)
    assert str(parse_gate("over:25")) == "over:25"


def test_prices_change_savings_not_recommendations(run_report) -> None:  # type: ignore[no-untyped-def]
    _, base, _ = run_report("--format", "json")
    _, dear, _ = run_report("--format", "json", "--price-gpu", "A100-80GB=5",
                            "--price-cpu", "0.05", "--currency", "EUR")
    a, b = json.loads(base), json.loads(dear)
    assert [c["resources"] for c in a["containers"]] != [c["resources"] for c in b["containers"]]
    targets = [[r["target"] for r in c["resources"]] for c in a["containers"]]
    assert targets == [[r["target"] for r in c["resources"]] for c in b["containers"]]
    gpu_a = a["savings"]["cluster"]["gpu"]
    assert b["savings"]["cluster"]["gpu"] == pytest.approx(gpu_a * 2, rel=1e-3)
    assert b["prices"]["gpuHourByModel"] == {"A100-80GB": 5.0}
    assert b["prices"]["defaults"] is False and a["prices"]["defaults"] is True
    _, table, _ = run_report("--currency", "EUR", "--price-cpu", "0.05")
    assert "€" in table


def test_table_fits_100_columns_and_colours_only_on_request(run_report) -> None:  # type: ignore[no-untyped-def]
    _, plain, _ = run_report()
    assert "\033[" not in plain
    assert max(len(line) for line in plain.splitlines()) <= 100
    _, coloured, _ = run_report("--color", "always")
    assert "\033[31m" in coloured and "\033[33m" in coloured  # under red, over yellow
    assert coloured.replace("\033[0m", "").count("\033[") > 10


def test_no_color_env_and_non_tty_disable_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    from recommender.commands.report import use_color

    assert use_color("auto") is False  # pytest's stdout is not a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color("auto") is False
    assert use_color("always") is True and use_color("never") is False


def test_the_report_counts_what_demo_wrote(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """demo and ingest count OOM rows as samples; the report said 20 fewer: it now says how
    many usage samples and how many OOM kills, which add up."""
    import json
    import re

    from recommender.cli import main

    history = tmp_path / "h.csv"
    assert main(["demo", "--output", str(history), "--days", "2", "--seed", "7"]) == 0
    wrote = int(re.search(r"wrote (\d+) samples", capsys.readouterr().out).group(1))
    assert main(["report", "--history", str(history), "--format", "json"]) == 0
    counted = json.loads(capsys.readouterr().out)["history"]
    assert counted["oomKills"] > 0 and counted["samples"] + counted["oomKills"] == wrote
