"""Progress on stderr while a report collects data, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Stages with elapsed time; ``update(done, total)`` draws a bar on one line."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self.stage_name = ""

    def stage(self, name: str) -> None:
        self.stage_name = name
        self._write(f"{name}…")

    def update(self, done: int, total: int) -> None:
        if total <= 0:
            return
        filled = int(24 * done / total)
        self._write(f"{self.stage_name} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total}")

    def done(self, message: str = "") -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.start
            self.stream.write(f"\r\033[K{message or 'done'} ({elapsed:.1f}s)\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.start
            self.stream.write(f"\r\033[K{text} {elapsed:.1f}s")
            self.stream.flush()
