"""gunicorn's arbiter, retiring old workers on a reload only once their replacements listen.

On SIGHUP gunicorn spawns a new generation of workers and at once asks the old one to stop.
Each worker has its own listening socket (``reuse_port``), opened only when its caches have
synced (:func:`webhook.gunicorn_conf.post_fork`), so for that time no socket would accept and
the apiserver's calls would be refused (pods admitted unsized). Here a worker reports on a pipe
when it listens, and old workers are stopped only once every new one has (at most
:data:`REPLACEMENT_WAIT_SECONDS`).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from gunicorn.arbiter import Arbiter

# Longest wait for a new generation to listen before the old one is stopped anyway: the
# workers' own wait for their caches, and a margin for loading the app.
REPLACEMENT_WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05


class WebhookArbiter(Arbiter):  # type: ignore[misc]
    """Keeps the old workers serving until their replacements listen."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.ready_read, self.ready_write = os.pipe()
        os.set_blocking(self.ready_read, False)
        self.listening: set[int] = set()

    def manage_workers(self) -> None:
        self._await_replacements()
        super().manage_workers()

    def _await_replacements(self) -> None:
        """With more workers than wanted (a reload), wait until the newest ones listen."""
        if len(self.WORKERS) <= self.num_workers:
            return
        newest = sorted(self.WORKERS, key=lambda pid: self.WORKERS[pid].age)[-self.num_workers:]
        deadline = time.monotonic() + REPLACEMENT_WAIT_SECONDS
        while time.monotonic() < deadline:
            self._read_reports()
            waiting = [pid for pid in newest if pid in self.WORKERS and pid not in self.listening]
            if not waiting:
                return
            self.reap_workers()  # a replacement that died is not waited for
            time.sleep(POLL_SECONDS)
        self.log.warning("stopping the old workers before every new one listens")

    def _read_reports(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while data := os.read(self.ready_read, 4096):
                self.listening.update(int(pid) for pid in data.split())

    def forget(self, pid: int) -> None:
        """A worker exited."""
        self.listening.discard(pid)


def report_listening(arbiter: Any, pid: int) -> None:
    """In a worker: tell the arbiter this worker now listens (no-op under another arbiter)."""
    fd = getattr(arbiter, "ready_write", None)
    if fd is not None:
        os.write(fd, f"{pid}\n".encode())
