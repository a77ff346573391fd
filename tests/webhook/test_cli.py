"""The command line: flags, and errors before gunicorn starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from webhook.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_serve_flags_and_defaults() -> None:
    args = build_parser().parse_args(["serve", "--cert", "c", "--key", "k"])
    assert (args.port, args.workers, args.threads, args.kubeconfig) == (8443, 2, 4, None)


def test_missing_certificate_is_a_usage_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["serve", "--cert", str(tmp_path / "nope.crt"), "--key", str(tmp_path / "k")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_python_dash_m_webhook() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "webhook", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "--kubeconfig" in out.stdout
