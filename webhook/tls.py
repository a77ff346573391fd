"""Server TLS: TLS 1.2+ only, and certificate files reloaded when they change on disk.

gunicorn asks for an SSLContext for every new connection (its ``ssl_context`` hook); the
context is rebuilt only when the certificate or key file's mtime/size changes, so a rotated
Secret (kubelet swaps the mounted files) is served without a restart. A half-written pair
fails to load and the previous context is kept until the files are consistent again.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2
# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are always on).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def build_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for ``cert``/``key``; raises OSError or ssl.SSLError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_TLS_VERSION
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


class ReloadingContext:
    """Hands out the current SSLContext, rebuilding it when the files change."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = Path(cert)
        self.key = Path(key)
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._context: ssl.SSLContext | None = None
        self.loads = 0

    def _files_stamp(self) -> tuple[int, ...]:
        cert, key = os.stat(self.cert), os.stat(self.key)
        return (
            cert.st_mtime_ns,
            cert.st_size,
            cert.st_ino,
            key.st_mtime_ns,
            key.st_size,
            key.st_ino,
        )

    def context(self) -> ssl.SSLContext:
        """The context for a new connection."""
        try:
            stamp = self._files_stamp()
        except OSError as exc:
            if self._context is None:
                raise
            log.warning("cannot stat TLS files (%s); keeping the loaded certificate", exc)
            return self._context
        if stamp == self._stamp and self._context is not None:
            return self._context
        with self._lock:
            if stamp != self._stamp or self._context is None:
                try:
                    self._context = build_context(self.cert, self.key)
                    self._stamp = stamp
                    self.loads += 1
                    if self.loads > 1:
                        log.info("reloaded TLS certificate from %s", self.cert)
                except (OSError, ssl.SSLError) as exc:
                    if self._context is None:
                        raise
                    log.warning("new TLS files do not load (%s); keeping the previous ones", exc)
            return self._context
