"""The history CSV: ``timestamp,namespace,workload,pod,container,resource,value``.

Timestamps are Unix seconds or RFC 3339; workloads are ``Kind/name``; values are numbers in
base units (cores, bytes, busy GPUs) or Kubernetes quantities (``250m``, ``512Mi``). Any bad row
is an error naming the file, line and field; nothing from a bad file is used.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from recommender.history import COLUMNS, RESOURCES, Samples
from recommender.quantity import QuantityError, parse_quantity, unit_hint


class HistoryError(ValueError):
    """A history file that cannot be read; the message names file, line and field."""


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # -sig: a BOM before the header


def parse_timestamp(text: str) -> float:
    """Unix seconds (``1700000000`` or ``1700000000.5``) or RFC 3339 (``2026-01-02T03:04:05Z``)."""
    try:
        value = float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError("not Unix seconds or an RFC 3339 time") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _parse_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_quantity(text)
        except QuantityError:
            raise ValueError(f"not a number or Kubernetes quantity{unit_hint(text)}") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if value < 0:
        raise ValueError("negative")
    return value


def _rows(handle: IO[str], name: str) -> Iterator[tuple[float, str, str, str, str, str, float]]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise HistoryError(f"{name}: empty file, expected header {','.join(COLUMNS)}")
    if [h.strip() for h in header] != list(COLUMNS):
        raise HistoryError(
            f"{name}:1: header is {','.join(header)!r}, expected {','.join(COLUMNS)}"
        )
    for record in reader:
        line = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) != len(COLUMNS):
            raise HistoryError(
                f"{name}:{line}: expected {len(COLUMNS)} fields, found {len(record)}"
            )
        ts, namespace, workload, pod, container, resource, value = (f.strip() for f in record)
        try:
            timestamp = parse_timestamp(ts)
        except ValueError as exc:
            raise HistoryError(f"{name}:{line}: field 'timestamp' {ts!r}: {exc}") from None
        for field, text in (("namespace", namespace), ("pod", pod), ("container", container)):
            if not text:
                raise HistoryError(f"{name}:{line}: field '{field}' is empty")
        kind, _, workload_name = workload.partition("/")
        if not kind or not workload_name:
            raise HistoryError(
                f"{name}:{line}: field 'workload' {workload!r}: expected Kind/name, "
                "e.g. Deployment/web"
            )
        if resource not in RESOURCES:
            raise HistoryError(
                f"{name}:{line}: field 'resource' {resource!r}: unknown resource; "
                f"valid: {', '.join(RESOURCES)}"
            )
        try:
            number = _parse_value(value)
        except ValueError as exc:
            raise HistoryError(f"{name}:{line}: field 'value' {value!r}: {exc}") from None
        yield timestamp, namespace, workload, pod, container, resource, number


def read_history(path: str | Path) -> Samples:
    """Read a whole history CSV (optionally gzipped). Raises :class:`HistoryError`."""
    path = Path(path)
    try:
        with _open_text(path) as handle:
            return Samples.from_rows(_rows(handle, str(path)))
    except OSError as exc:
        raise HistoryError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as exc:
        raise HistoryError(f"{path}: unreadable: {exc}") from None


def write_history(samples: Samples, out: IO[str]) -> None:
    """Write samples as history CSV (timestamps in Unix seconds)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for ts, namespace, workload, pod, container, resource, value in samples.rows():
        writer.writerow(
            (f"{ts:.0f}" if ts == int(ts) else repr(ts), namespace, workload, pod, container,
             resource, f"{value:.6g}" if resource in ("cpu", "gpu") else f"{value:.0f}")
        )
