"""Bad input a newcomer gives on purpose: one line naming the file and what is wrong, exit 2,
never a traceback; and ``--version`` on every command."""

from __future__ import annotations

import argparse
import json

import pytest

from recommender.cli import main

HEADER = "timestamp,namespace,workload,pod,container,resource,value\n"
ROW = "1700000000,shop,Deployment/web,web-1,app,memory,{value}\n"


def history(tmp_path, value: str = "512Mi", bom: bool = False):
    path = tmp_path / "h.csv"
    rows = "".join(ROW.format(value=value).replace("1700000000", str(1700000000 + 60 * i))
                   for i in range(3))
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (HEADER + rows).encode())
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("command", [
    ["recommend"], ["report"], ["backtest"], ["ingest", "{csv}"],
])  # fmt: skip
def test_a_store_that_is_not_sqlite_or_is_a_directory(tmp_path, capsys, command) -> None:
    csv = history(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database\n")
    folder = tmp_path / "folder.db"
    folder.mkdir()
    for store, message in ((junk, "not a Tidal history store (SQLite)"),
                           (folder, "is a directory, not a history store")):
        args = [a.format(csv=csv) for a in command] + ["--store", str(store)]
        assert main(args) == 2
        assert error_line(capsys) == f"tidal-recommender: error: {store}: {message}" + (
            ": file is not a database" if store == junk else " (a SQLite file)")


def test_a_bom_before_the_header_is_accepted(tmp_path, capsys) -> None:
    assert main(["recommend", "--history", str(history(tmp_path, bom=True)),
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["recommendations"]


def test_a_byte_unit_said_aloud_gets_a_suggestion(tmp_path, capsys) -> None:
    path = history(tmp_path, value="512Mb")
    assert main(["recommend", "--history", str(path)]) == 2
    assert error_line(capsys) == (
        f"tidal-recommender: error: {path}:2: field 'value' '512Mb': not a number or "
        "Kubernetes quantity; did you mean 512Mi or 512M?")


def test_broken_policy_yaml_names_line_and_column(tmp_path, capsys) -> None:
    policy = tmp_path / "vpa.yaml"
    policy.write_text("apiVersion: autoscaling.k8s.io/v1\nkind: VerticalPodAutoscaler\n"
                      "metadata: {name: x\nspec: [\n")
    assert main(["recommend", "--history", str(history(tmp_path)), "--policy", str(policy)]) == 2
    assert error_line(capsys).startswith(f"tidal-recommender: error: {policy}:4:5: invalid YAML: ")


def test_memory_rounding_takes_a_quantity(tmp_path, capsys) -> None:
    path = history(tmp_path)
    assert main(["recommend", "--history", str(path), "--format", "json",
                 "--round-memory-bytes", "64Mi"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["recommendations"]
    from recommender.quantity import parse_quantity

    assert parse_quantity(entry["target"]["memory"]) % (64 * 2**20) == 0
    with pytest.raises(SystemExit):
        main(["recommend", "--history", str(path), "--round-memory-bytes", "64Mb"])
    assert "did you mean 64Mi or 64M?" in capsys.readouterr().err


def test_a_warmup_longer_than_the_history_is_an_error(tmp_path, capsys) -> None:
    path = history(tmp_path)
    assert main(["backtest", "--history", str(path), "--warmup", "48h"]) == 2
    assert error_line(capsys) == (
        "tidal-recommender: error: --warmup 48h is not shorter than the history (0.0 h): "
        "nothing is left to score; use a shorter --warmup")


@pytest.mark.parametrize("module", ["recommender.cli", "webhook.cli", "certs.cli", "updater.cli"])
def test_every_command_has_a_version(module, capsys) -> None:
    import importlib

    from recommender.version import tidal_version

    cli = importlib.import_module(module)
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    prog = cli.build_parser().prog
    assert capsys.readouterr().out.strip() == f"{prog} {tidal_version()}"


def test_an_unreachable_cluster_is_one_line(tmp_path, capsys) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
    )
    args = ["report", "--from-cluster", "--kubeconfig", str(kubeconfig),
            "--history", str(history(tmp_path))]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Retrying" not in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "tidal-recommender: error: --from-cluster: cannot reach the API server at "
        "127.0.0.1:9: [Errno 111] Connection refused")


def test_every_option_says_what_it_is_and_every_command_has_examples(capsys) -> None:
    from recommender.cli import COMMANDS, build_parser

    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        text = capsys.readouterr().out
        assert "examples:\n  tidal-recommender " + ("import" if name == "import" else name) in text
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("command", [["recommend"], ["ingest", "{csv}"]])
def test_a_damaged_store_is_one_line_naming_it(tmp_path, capsys, command) -> None:
    csv = history(tmp_path)
    store = tmp_path / "h.db"
    rows = "".join(ROW.format(value=str(i * 1000)).replace("1700000000", str(1700000000 + 60 * i))
                   for i in range(20000))
    big = tmp_path / "big.csv"
    big.write_text(HEADER + rows)
    assert main(["ingest", str(big), "--store", str(store)]) == 0
    capsys.readouterr()
    with open(store, "r+b") as handle:  # overwrite pages in the middle of the file
        handle.seek(store.stat().st_size // 2)
        handle.write(b"\xff" * 16384)
    args = [a.format(csv=csv) for a in command] + ["--store", str(store)]
    assert main(args) == 2
    line = error_line(capsys)
    assert line.startswith(f"tidal-recommender: error: {store}: the history store is damaged")
    assert "malformed" in line
