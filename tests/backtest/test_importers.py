"""Trace importers on tiny fixtures in the shapes of the real formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.input.csv_history import HistoryError
from recommender.input.importers import (
    GENAI_MEMORY_LIMIT_BYTES,
    parse_alibaba_time,
    read_alibaba_2018,
    read_alibaba_genai,
    read_bitbrains,
    read_trace,
)

FIXTURES = Path(__file__).parent / "fixtures"
KB = 1024.0


def rows_of(samples, resource):
    return [r for r in samples.rows() if r[5] == resource]


def test_bitbrains_developer_csv():
    s = read_bitbrains(FIXTURES / "bitbrains-dev.csv")
    cpu = rows_of(s, "cpu")
    # VM 2 at 2 cores of 2926 MHz: 1463 MHz = 0.5 core, 2926 MHz = 1 core; VM 4: 0.1 core.
    assert [(r[0], r[2], r[3], r[4], round(r[6], 6)) for r in cpu] == [
        (1375308176.0, "VM/2", "2", "vm", 0.5),
        (1375308176.0, "VM/4", "4", "vm", 0.1),
        (1375308476.0, "VM/2", "2", "vm", 1.0),
    ]
    memory = rows_of(s, "memory")
    assert sorted(r[6] for r in memory) == [524288 * KB, 1048576 * KB, 2097152 * KB]
    assert {r[1] for r in s.rows()} == {"bitbrains"}
    # The row with zero provisioned capacity is a monitoring gap: no sample at all.
    assert 1375308776.0 not in s.timestamp


def test_bitbrains_original_semicolon_folder():
    s = read_bitbrains(FIXTURES / "bitbrains-original")
    cpu = {(r[2], r[0]): r[6] for r in rows_of(s, "cpu")}
    # 4 cores, 11704 MHz provisioned: 5852 MHz = 2 cores; ms timestamps are converted.
    assert cpu[("VM/7", 1376314846.0)] == pytest.approx(2.0)
    assert cpu[("VM/7", 1376315146.0)] == pytest.approx(1.0)
    assert cpu[("VM/9", 1376314846.0)] == pytest.approx(0.5)
    memory = {(r[2], r[0]): r[6] for r in rows_of(s, "memory")}
    assert memory[("VM/7", 1376315146.0)] == 8388608 * KB


def test_bitbrains_one_original_file_and_format_dispatch():
    s = read_trace("bitbrains", FIXTURES / "bitbrains-original" / "9.csv")
    assert set(s.workload) == {"VM/9"} and len(s) == 2


def test_alibaba_genai_joined_on_pod():
    s = read_alibaba_genai(FIXTURES / "alibaba-genai")
    by = {(r[3], r[5], r[0]): r[6] for r in s.rows()}
    assert by[("aaa", "gpu", 1662858720.0)] == pytest.approx(0.5)  # 50% duty = half a GPU
    assert by[("aaa", "gpu", 1662858777.0)] == pytest.approx(1.0)
    assert by[("aaa", "gpu_memory", 1662858720.0)] == 33879490560.0
    assert by[("aaa", "memory", 1662858720.0)] == 0.5 * GENAI_MEMORY_LIMIT_BYTES
    assert by[("bbb", "memory", 1662858720.0)] == 0.0  # tiny negatives clamped
    assert {r[2] for r in s.rows() if r[3] == "ccc"} == {"Pod/ccc"}
    assert {r[1] for r in s.rows()} == {"alibaba-genai"}


def test_alibaba_genai_memory_scale():
    s = read_alibaba_genai(FIXTURES / "alibaba-genai", memory_limit_bytes=1000.0)
    memory = sorted(v for *_, res, v in s.rows() if res == "memory")
    assert memory == [0.0, 250.0, 500.0]


def test_alibaba_2018():
    s = read_alibaba_2018(FIXTURES / "c_42.csv")
    assert [(r[2], r[5], r[6]) for r in s.rows()] == [
        ("Container/c_42", "cpu", 7.2), ("Container/c_42", "cpu", 7.04)
    ]
    assert np.diff(s.timestamp).tolist() == [60.5]
    assert parse_alibaba_time("1970.01.01-00:00:01:250") == 1.25


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("bitbrains", "vm,timestamp\n1,2\n", "missing Bitbrains columns"),
        ("alibaba-2018", "TIME,CPU\n", "TIMESTAMP,CPU_USAGE_ACTUAL"),
        ("alibaba-2018", "TIMESTAMP,CPU_USAGE_ACTUAL\nyesterday,1\n", "YYYY.MM.DD"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, fmt, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(HistoryError, match=message):
        read_trace(fmt, path)


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="valid: bitbrains"):
        read_trace("gwa", tmp_path)
    with pytest.raises(HistoryError, match="no such file"):
        read_trace("bitbrains", tmp_path / "nope.csv")
    with pytest.raises(HistoryError, match="folder"):
        read_alibaba_genai(tmp_path / "nope")
