"""``tidal-webhook serve`` settings: one typed object, built from flags, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webhook.status_lease import parse_lease

DEFAULT_PORT = 8443
# Two cores: two processes (a crash or GC pause in one leaves the other), four threads each.
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4


@dataclass(frozen=True)
class ServeSettings:
    """How to serve: TLS files, address, cluster access and worker pool."""

    cert: Path
    key: Path
    port: int = DEFAULT_PORT
    bind: str = "0.0.0.0"
    kubeconfig: str | None = None
    state_file: Path | None = None
    no_cluster: bool = False
    workers: int = DEFAULT_WORKERS
    threads: int = DEFAULT_THREADS
    noop_endpoint: bool = False
    access_log: bool = False
    log_level: str = "info"
    status_lease: str | None = None  # NAMESPACE/NAME of the Lease upstream's updater checks

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work."""
        if not 0 < self.port < 65536:
            raise ValueError(f"--port {self.port} is not a TCP port")
        if self.workers < 1 or self.threads < 1:
            raise ValueError("--workers and --threads must be at least 1")
        for path in (self.cert, self.key):
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such file")
        if self.state_file is not None and not Path(self.state_file).is_file():
            raise ValueError(f"{self.state_file}: no such file")
        if self.status_lease is not None:
            parse_lease(self.status_lease)

    @property
    def address(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{host}:{self.port}"
