"""The tidal-certs command line: generate, check (exit codes), rotate."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from certs import checks, pki
from certs.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_generate_writes_the_pki_with_private_keys(tmp_path, capsys) -> None:
    out = tmp_path / "pki"
    assert main(["generate", "--out", str(out), "--ip", "127.0.0.1", "--dns", "dev.local"]) == 0
    for name in ("ca.crt", "ca.key", "tls.crt", "tls.key"):
        assert (out / name).is_file()
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600
    info = checks.describe(pki.load_certificate(out / "tls.crt"))
    assert "dev.local" in info.dns_names and info.ip_addresses == ("127.0.0.1",)
    assert "wrote" in capsys.readouterr().out


def test_generate_refuses_to_replace_a_ca(tmp_path, capsys) -> None:
    assert main(["generate", "--out", str(tmp_path)]) == 0
    ca = (tmp_path / "ca.crt").read_bytes()
    assert main(["generate", "--out", str(tmp_path)]) == 2
    assert "use `rotate`" in capsys.readouterr().err
    assert (tmp_path / "ca.crt").read_bytes() == ca
    assert main(["generate", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "ca.crt").read_bytes() != ca


def test_check_prints_subject_sans_expiry_and_passes(tmp_path, capsys) -> None:
    main(["generate", "--out", str(tmp_path)])
    capsys.readouterr()
    assert main(["check", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "subject:   CN=tidal-webhook.tidal-system.svc" in out
    assert "tidal-webhook.tidal-system.svc.cluster.local" in out
    assert "days left" in out and out.rstrip().endswith("OK")


@pytest.mark.parametrize(
    ("leaf_days", "min_days", "expected"),
    [(10, 30, 1), (10, 5, 0), (0, 30, 1), (365, 30, 0), (365, 400, 1)],
)
def test_check_fails_when_expiring_within_min_days(
    tmp_path, capsys, leaf_days: int, min_days: int, expected: int
) -> None:
    main(["generate", "--out", str(tmp_path), "--leaf-days", str(leaf_days)])
    assert main(["check", "--dir", str(tmp_path), "--min-days", str(min_days)]) == expected
    out = capsys.readouterr().out
    assert ("PROBLEM:" in out) == bool(expected)


def test_check_fails_when_sans_do_not_cover_the_service(tmp_path, capsys) -> None:
    main(["generate", "--out", str(tmp_path), "--service", "other-svc"])
    assert main(["check", "--dir", str(tmp_path)]) == 1
    assert "PROBLEM: does not cover tidal-webhook," in capsys.readouterr().out
    assert main(["check", "--dir", str(tmp_path), "--service", "other-svc"]) == 0


def test_check_of_a_missing_file_is_an_error(tmp_path, capsys) -> None:
    assert main(["check", "--dir", str(tmp_path)]) == 2
    assert "No such file" in capsys.readouterr().err


def test_rotate_only_when_needed_keeps_ca_and_extra_sans(tmp_path, capsys) -> None:
    main(["generate", "--out", str(tmp_path), "--leaf-days", "10", "--ip", "127.0.0.1"])
    ca = (tmp_path / "ca.crt").read_bytes()
    leaf = (tmp_path / "tls.crt").read_bytes()
    assert main(["rotate", "--dir", str(tmp_path), "--min-days", "5"]) == 0
    assert (tmp_path / "tls.crt").read_bytes() == leaf  # still fine: untouched

    assert main(["rotate", "--dir", str(tmp_path)]) == 0  # within 30 days: renewed
    assert "expires in" in capsys.readouterr().out
    assert (tmp_path / "ca.crt").read_bytes() == ca
    assert (tmp_path / "tls.crt").read_bytes() != leaf
    renewed = pki.load_certificate(tmp_path / "tls.crt")
    assert checks.describe(renewed).ip_addresses == ("127.0.0.1",)
    assert main(["check", "--dir", str(tmp_path)]) == 0


def test_rotate_force_renews_a_valid_leaf(tmp_path) -> None:
    main(["generate", "--out", str(tmp_path)])
    leaf = (tmp_path / "tls.crt").read_bytes()
    assert main(["rotate", "--dir", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "tls.crt").read_bytes() != leaf


def test_python_dash_m_certs_runs_the_cli(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certs", "generate", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tls.crt").is_file()
