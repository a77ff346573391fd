"""Importers for public workload traces into :class:`Samples` (then the history CSV).

- Bitbrains GWA-T-12 (Grid Workloads Archive): the original per-VM files
  (``Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];...``,
  one file per VM named ``<id>.csv``, a folder of them) and the developer copy's single CSV
  (``vm,timestamp,cpu_cores,cpu_capacity_mhz,cpu_usage_mhz,memory_capacity_kb,
  memory_usage_kb``). One workload per VM: namespace ``bitbrains``, workload ``VM/<id>``,
  pod ``<id>``, container ``vm``. CPU cores used = usage MHz / (capacity MHz / cores);
  memory bytes = KB x 1024. Rows whose provisioned capacity is 0 are monitoring gaps: no
  sample.
- Alibaba cluster-trace-v2026-GenAI pod files (``timestamp,pod,value``), joined on ``pod``:
  GPU duty cycle % / 100 -> busy GPUs, GPU memory bytes -> ``gpu_memory``, memory utilisation
  (a fraction of an unpublished limit) x ``GENAI_MEMORY_LIMIT_BYTES`` -> ``memory``. Each pod
  is its own workload ``Pod/<hash>`` in namespace ``alibaba-genai``, container ``main``.
- Alibaba cluster-trace-v2018 container CPU (``TIMESTAMP,CPU_USAGE_ACTUAL``, timestamps
  ``YYYY.MM.DD-HH:MM:SS:mmm`` read as UTC, usage in cores): workload ``Container/<file stem>``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY, Samples
from recommender.input.csv_history import HistoryError

KB = 1024.0
BITBRAINS_NAMESPACE = "bitbrains"
BITBRAINS_CONTAINER = "vm"
BITBRAINS_COLUMNS = (
    "vm", "timestamp", "cpu_cores", "cpu_capacity_mhz", "cpu_usage_mhz",
    "memory_capacity_kb", "memory_usage_kb",
)
# Original GWA-T-12 columns we use (matched case-insensitively, by prefix before " [").
_ORIGINAL = {
    "timestamp": "timestamp", "cpu cores": "cpu_cores",
    "cpu capacity provisioned": "cpu_capacity_mhz", "cpu usage": "cpu_usage_mhz",
    "memory capacity provisioned": "memory_capacity_kb", "memory usage": "memory_usage_kb",
}
MS_THRESHOLD = 1e11  # GWA-T-12 labels timestamps [ms] but most files hold seconds

GENAI_NAMESPACE = "alibaba-genai"
GENAI_CONTAINER = "main"
# The memory limit is not published: relative memory (0-1) is scaled to this nominal limit.
# 16 GiB keeps the 250 MiB per-pod floor (1.5%) and the 10 MB first histogram bucket far below
# the pods' use, so slack and OOM figures are those of the relative series.
GENAI_MEMORY_LIMIT_BYTES = 16 * 2**30
GENAI_FILES = {
    "pod_gpu_duty_cycle_anon": (GPU, 0.01),
    "pod_gpu_memory_used_bytes_anon": (GPU_MEMORY, 1.0),
    "pod_memory_util_anon": (MEMORY, float(GENAI_MEMORY_LIMIT_BYTES)),
}

ALIBABA_2018_NAMESPACE = "alibaba-2018"
ALIBABA_2018_CONTAINER = "main"
_ALIBABA_TIME = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})-(\d{2}):(\d{2}):(\d{2}):(\d{3})$")

FORMATS = ("bitbrains", "alibaba-genai", "alibaba-2018")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _csv_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
        if not files:
            raise HistoryError(f"{path}: no .csv or .csv.gz files")
        return files
    if not path.exists():
        raise HistoryError(f"{path}: no such file or directory")
    return [path]


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _series(
    namespace: str, kind: str, container: str, names: np.ndarray, times: np.ndarray,
    resource: str, values: np.ndarray,
) -> Samples:
    n = len(times)
    workloads = np.array([f"{kind}/{name}" for name in names.tolist()], dtype=object)
    return Samples.from_columns(
        times, np.full(n, namespace, dtype=object), workloads, names.astype(object),
        np.full(n, container, dtype=object), np.full(n, resource, dtype=object), values,
    )


# -- Bitbrains ---------------------------------------------------------------------------
def _bitbrains_samples(vm: np.ndarray, columns: dict[str, np.ndarray]) -> Samples:
    ts = columns["timestamp"]
    ts = np.where(ts > MS_THRESHOLD, ts / 1000.0, ts)
    cores, capacity = columns["cpu_cores"], columns["cpu_capacity_mhz"]
    has_cpu = (cores > 0) & (capacity > 0)
    cpu = columns["cpu_usage_mhz"][has_cpu] / (capacity[has_cpu] / cores[has_cpu])
    has_memory = columns["memory_capacity_kb"] > 0
    memory = columns["memory_usage_kb"][has_memory] * KB
    names = np.array([str(int(v)) if float(v).is_integer() else str(v) for v in vm], dtype=object)
    return Samples.concat([
        _series(BITBRAINS_NAMESPACE, "VM", BITBRAINS_CONTAINER, names[has_cpu], ts[has_cpu],
                CPU, np.maximum(cpu, 0.0)),
        _series(BITBRAINS_NAMESPACE, "VM", BITBRAINS_CONTAINER, names[has_memory],
                ts[has_memory], MEMORY, np.maximum(memory, 0.0)),
    ]).sorted_by_time()


def _load_numeric(handle: IO[str], name: str, delimiter: str, columns: int) -> np.ndarray:
    try:
        data = np.loadtxt(handle, delimiter=delimiter, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise HistoryError(f"{name}: not numeric {delimiter!r}-separated data: {exc}") from None
    if data.shape[0] and data.shape[1] < columns:
        raise HistoryError(f"{name}: expected {columns} columns, found {data.shape[1]}")
    return data


def read_bitbrains(path: str | Path) -> Samples:
    """Bitbrains GWA-T-12: the developer CSV, one original per-VM file, or a folder of them."""
    parts = []
    for file in _csv_files(Path(path)):
        with _open_text(file) as handle:
            header = handle.readline()
            if ";" in header:
                parts.append(_read_bitbrains_original(handle, header, file))
            else:
                parts.append(_read_bitbrains_csv(handle, header, file))
    return Samples.concat(parts).sorted_by_time()


def _read_bitbrains_csv(handle: IO[str], header: str, file: Path) -> Samples:
    names = [h.strip() for h in header.split(",")]
    missing = [c for c in BITBRAINS_COLUMNS if c not in names]
    if missing:
        raise HistoryError(f"{file}:1: missing Bitbrains columns {', '.join(missing)}")
    data = _load_numeric(handle, str(file), ",", len(names))
    columns = {c: data[:, names.index(c)] for c in BITBRAINS_COLUMNS}
    return _bitbrains_samples(columns["vm"], columns)


def _read_bitbrains_original(handle: IO[str], header: str, file: Path) -> Samples:
    names = [h.strip().split(" [")[0].lower() for h in header.split(";")]
    index = {}
    for label, column in _ORIGINAL.items():
        if label not in names:
            raise HistoryError(f"{file}:1: missing GWA-T-12 column {label!r}")
        index[column] = names.index(label)
    data = _load_numeric(handle, str(file), ";", len(names))
    columns = {c: data[:, i] for c, i in index.items()}
    vm = np.full(data.shape[0], _stem(file), dtype=object)
    return _bitbrains_samples(vm, columns)


# -- Alibaba GenAI 2026 ------------------------------------------------------------------
def _read_pod_values(file: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    times, pods, values = [], [], []
    with _open_text(file) as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if header != ["timestamp", "pod", "value"]:
            raise HistoryError(
                f"{file}:1: header {','.join(header)!r}, expected timestamp,pod,value"
            )
        for record in reader:
            if len(record) != 3:
                raise HistoryError(f"{file}:{reader.line_num}: expected 3 fields")
            try:
                times.append(float(record[0]))
                values.append(float(record[2]))
            except ValueError:
                raise HistoryError(f"{file}:{reader.line_num}: not a number") from None
            pods.append(record[1])
    return (np.array(times, dtype=np.float64), np.array(pods, dtype=object),
            np.array(values, dtype=np.float64))


def read_alibaba_genai(
    path: str | Path, memory_limit_bytes: float = GENAI_MEMORY_LIMIT_BYTES
) -> Samples:
    """The GenAI pod files in a folder (any subset of the three), joined on pod."""
    folder = Path(path)
    if not folder.is_dir():
        raise HistoryError(f"{folder}: expected the folder holding the pod_*_anon.csv.gz files")
    parts = []
    for stem, (resource, scale) in GENAI_FILES.items():
        candidates = [folder / f"{stem}.csv.gz", folder / f"{stem}.csv"]
        file = next((c for c in candidates if c.exists()), None)
        if file is None:
            continue
        times, pods, values = _read_pod_values(file)
        if resource == MEMORY:
            scale = float(memory_limit_bytes)
        values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, None) * scale
        parts.append(_series(GENAI_NAMESPACE, "Pod", GENAI_CONTAINER, pods, times, resource,
                             values))
    if not parts:
        raise HistoryError(f"{folder}: none of {', '.join(GENAI_FILES)} (.csv or .csv.gz)")
    return Samples.concat(parts).sorted_by_time()


# -- Alibaba 2018 ------------------------------------------------------------------------
def parse_alibaba_time(text: str) -> float:
    """``2023.04.02-00:09:00:000`` (UTC) -> Unix seconds."""
    match = _ALIBABA_TIME.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not YYYY.MM.DD-HH:MM:SS:mmm")
    y, mo, d, h, mi, s, ms = (int(g) for g in match.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp() + ms / 1000.0


def read_alibaba_2018(path: str | Path) -> Samples:
    """Container CPU files (``TIMESTAMP,CPU_USAGE_ACTUAL``): a file or a folder of them."""
    parts = []
    for file in _csv_files(Path(path)):
        times, values = [], []
        with _open_text(file) as handle:
            reader = csv.reader(handle)
            header = [h.strip().upper() for h in next(reader, [])]
            if "TIMESTAMP" not in header or "CPU_USAGE_ACTUAL" not in header:
                raise HistoryError(f"{file}:1: expected columns TIMESTAMP,CPU_USAGE_ACTUAL")
            it, iv = header.index("TIMESTAMP"), header.index("CPU_USAGE_ACTUAL")
            for record in reader:
                if not record:
                    continue
                try:
                    times.append(parse_alibaba_time(record[it]))
                    values.append(max(float(record[iv]), 0.0))
                except (ValueError, IndexError) as exc:
                    raise HistoryError(f"{file}:{reader.line_num}: {exc}") from None
        names = np.full(len(times), _stem(file), dtype=object)
        parts.append(_series(ALIBABA_2018_NAMESPACE, "Container", ALIBABA_2018_CONTAINER, names,
                             np.array(times), CPU, np.array(values)))
    return Samples.concat(parts).sorted_by_time()


READERS: dict[str, Callable[[Path], Samples]] = {
    "bitbrains": read_bitbrains,
    "alibaba-genai": read_alibaba_genai,
    "alibaba-2018": read_alibaba_2018,
}


def read_trace(fmt: str, path: str | Path) -> Samples:
    """Read a trace in one of :data:`FORMATS`."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise ValueError(f"unknown trace format {fmt!r}; valid: {', '.join(FORMATS)}") from None
    return reader(Path(path))
