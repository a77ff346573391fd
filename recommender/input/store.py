"""The embedded history store: SQLite, one transaction per ingest, idempotent.

A series is one (namespace, workload, pod, container, resource); a sample is unique per series
and timestamp, so ingesting the same file twice changes nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recommender.history import Samples
from recommender.input.csv_history import HistoryError

DEFAULT_STORE = Path(".tidal/history.db")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL, workload TEXT NOT NULL, pod TEXT NOT NULL,
    container TEXT NOT NULL, resource TEXT NOT NULL,
    UNIQUE (namespace, workload, pod, container, resource)
);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL REFERENCES series(id),
    timestamp REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series, timestamp)
) WITHOUT ROWID;
"""


class HistoryStore:
    """A SQLite file of samples. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise HistoryError(f"{self.path}: is a directory, not a history store (a SQLite file)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{self.path}: cannot open the history store: {exc}") from None
        try:
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(
                f"{self.path}: not a Tidal history store (SQLite): {exc}"
            ) from None

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _damage(self) -> Iterator[None]:
        """A damaged file (``database disk image is malformed``) as one line naming it."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise HistoryError(
                f"{self.path}: the history store is damaged ({exc}): restore it from a copy, "
                "or ingest the history CSV again into a new --store"
            ) from None

    def ingest(self, samples: Samples) -> int:
        """Add samples in one transaction; returns how many were new."""
        with self._damage():
            return self._ingest(samples)

    def _ingest(self, samples: Samples) -> int:
        with self._db:
            before = self._count()
            ids: dict[tuple[str, str, str, str, str], int] = {}
            keys = zip(
                samples.namespace.tolist(), samples.workload.tolist(), samples.pod.tolist(),
                samples.container.tolist(), samples.resource.tolist(), strict=True,
            )
            series = []
            for key in keys:
                sid = ids.get(key)
                if sid is None:
                    self._db.execute(
                        "INSERT OR IGNORE INTO series (namespace, workload, pod, container, "
                        "resource) VALUES (?, ?, ?, ?, ?)", key,
                    )
                    sid = ids[key] = self._db.execute(
                        "SELECT id FROM series WHERE namespace=? AND workload=? AND pod=? "
                        "AND container=? AND resource=?", key,
                    ).fetchone()[0]
                series.append(sid)
            self._db.executemany(
                "INSERT OR IGNORE INTO samples (series, timestamp, value) VALUES (?, ?, ?)",
                zip(series, samples.timestamp.tolist(), samples.value.tolist(), strict=True),
            )
            return self._count() - before

    def _count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def __len__(self) -> int:
        with self._damage():
            return self._count()

    def load(self, namespace: str | None = None, since: float | None = None) -> Samples:
        """Samples (of one namespace, from ``since``), oldest first."""
        with self._damage():
            return self._load(namespace, since)

    def _load(self, namespace: str | None, since: float | None) -> Samples:
        query = (
            "SELECT s.timestamp, r.namespace, r.workload, r.pod, r.container, r.resource, "
            "s.value FROM samples s JOIN series r ON r.id = s.series WHERE 1=1"
        )
        args: list[object] = []
        if namespace:
            query += " AND r.namespace = ?"
            args.append(namespace)
        if since is not None:
            query += " AND s.timestamp >= ?"
            args.append(since)
        rows = self._db.execute(query + " ORDER BY s.timestamp", args).fetchall()
        if not rows:
            return Samples.empty()
        ts, namespaces, workloads, pods, containers, resources, values = (
            list(column) for column in zip(*rows, strict=True)
        )
        return Samples.from_columns(
            np.array(ts), namespaces, workloads, pods, containers, resources, np.array(values)
        )
