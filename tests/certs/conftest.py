"""Shared fixtures: a generated PKI and a real TLS server on 127.0.0.1 serving its leaf."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import pki

SERVICE = "tidal-webhook"
NAMESPACE = "tidal-system"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> pki.Bundle:
    out = tmp_path_factory.mktemp("pki")
    return pki.generate(out, SERVICE, NAMESPACE, ips=["127.0.0.1"], dns=["localhost"])


class TlsServer:
    """Accepts TLS connections on 127.0.0.1 and answers each with ``hello``."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError):
                conn.close()  # the client rejected us: that is what some tests expect

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def fetch(port: int, ca: Path, server_hostname: str) -> bytes:
    """Connect with full verification of chain and hostname; return what the server sent."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(16)


@pytest.fixture(scope="module")
def tls_server(bundle: pki.Bundle) -> Iterator[TlsServer]:
    server = TlsServer(bundle.cert, bundle.key)
    yield server
    server.close()
