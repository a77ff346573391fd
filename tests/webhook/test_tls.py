"""Server TLS context: version floor and reloading of rotated files."""

from __future__ import annotations

import os
import shutil
import ssl
from pathlib import Path

from certs.pki import generate
from webhook.tls import ReloadingContext, build_context


def _bundle(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    return generate(tmp / name, "tidal-webhook", "tidal-system", ips=["127.0.0.1"])


def test_context_refuses_anything_below_tls_1_2(tmp_path: Path) -> None:
    pki = _bundle(tmp_path, "a")
    context = build_context(pki.cert, pki.key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_reloads_on_change_and_keeps_the_old_pair_when_the_new_one_is_broken(
    tmp_path: Path,
) -> None:
    first, second = _bundle(tmp_path, "a"), _bundle(tmp_path, "b")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "tls.crt", live / "tls.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    reloading = ReloadingContext(cert, key)
    one = reloading.context()
    assert reloading.context() is one and reloading.loads == 1
    # Half-rotated: new certificate, old key. The old context stays in use.
    shutil.copy(second.cert, cert)
    os.utime(cert, ns=(1, 1))
    assert reloading.context() is one
    shutil.copy(second.key, key)
    os.utime(key, ns=(2, 2))  # whatever the filesystem's timestamp granularity
    two = reloading.context()
    assert two is not one and reloading.loads == 2
