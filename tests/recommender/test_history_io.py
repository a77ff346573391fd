import gzip

import numpy as np
import pytest

from recommender.input.csv_history import HistoryError, read_history, write_history
from recommender.input.demo import generate
from recommender.input.store import HistoryStore

HEADER = "timestamp,namespace,workload,pod,container,resource,value\n"


def write(tmp_path, body, name="h.csv"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_reads_seconds_rfc3339_and_quantities(tmp_path):
    path = write(tmp_path, "1700000000,ns,Deployment/web,web-1,app,cpu,250m\n"
                           "2023-11-14T22:13:21Z,ns,Deployment/web,web-1,app,memory,512Mi\n"
                           "1700000002.5,ns,Deployment/web,web-1,app,gpu,0.35\n")
    s = read_history(path)
    assert s.timestamp.tolist() == [1700000000.0, 1700000001.0, 1700000002.5]
    assert s.value.tolist() == [0.25, 512 * 2**20, 0.35]
    assert s.workload.tolist() == ["Deployment/web"] * 3


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x,ns,Deployment/web,p,c,cpu,1", ":2: field 'timestamp' 'x'"),
        ("1,ns,web,p,c,cpu,1", ":2: field 'workload' 'web': expected Kind/name"),
        ("1,ns,Deployment/web,p,c,disk,1", ":2: field 'resource' 'disk': unknown resource"),
        ("1,ns,Deployment/web,p,c,cpu,-1", ":2: field 'value' '-1': negative"),
        ("1,ns,Deployment/web,p,c,cpu,lots", ":2: field 'value' 'lots': not a number"),
        ("1,ns,Deployment/web,p,c,cpu", ":2: expected 7 fields, found 6"),
        ("1,,Deployment/web,p,c,cpu,1", ":2: field 'namespace' is empty"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, message):
    path = write(tmp_path, row + "\n")
    with pytest.raises(HistoryError) as err:
        read_history(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_bad_header_and_missing_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,value\n1,2\n")
    with pytest.raises(HistoryError, match="bad.csv:1: header"):
        read_history(path)
    with pytest.raises(HistoryError, match="nope.csv"):
        read_history(tmp_path / "nope.csv")


def test_gzip_and_round_trip(tmp_path):
    samples = generate(days=1, seed=3)
    path = tmp_path / "h.csv.gz"
    with gzip.open(path, "wt", newline="") as out:
        write_history(samples, out)
    back = read_history(path)
    assert len(back) == len(samples)
    assert np.allclose(back.value, samples.value, rtol=1e-5)
    assert back.resource.tolist() == samples.resource.tolist()


def test_store_ingest_is_idempotent(tmp_path):
    samples = generate(days=1, seed=1)
    with HistoryStore(tmp_path / "s.db") as store:
        assert store.ingest(samples) == len(samples)
        assert store.ingest(samples) == 0
        assert len(store) == len(samples)
        loaded = store.load()
    assert len(loaded) == len(samples)
    assert (np.diff(loaded.timestamp) >= 0).all()
    with HistoryStore(tmp_path / "s.db") as store:
        assert len(store.load(namespace="ml")) == int((samples.namespace == "ml").sum())


def test_demo_is_seeded_and_has_every_story():
    a, b = generate(days=2, seed=5), generate(days=2, seed=5)
    assert np.array_equal(a.value, b.value)
    assert not np.array_equal(a.value, generate(days=2, seed=6).value)
    assert set(a.resource) == {"cpu", "memory", "gpu", "gpu_memory", "oom"}
    assert {"CronJob/nightly-etl", "Deployment/llm-inference"} <= set(a.workload)
