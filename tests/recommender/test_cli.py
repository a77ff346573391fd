import json

import pytest

from recommender.cli import main
from tests.recommender.test_history_io import HEADER

POLICY = """
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  resourcePolicy:
    containerPolicies:
      - containerName: "*"
        maxAllowed: {cpu: 300m}
"""


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.csv"
    assert main(["demo", "--output", str(path), "--days", "2", "--seed", "9"]) == 0
    return path


def test_recommend_json_contract(demo, tmp_path, capsys):
    policy = tmp_path / "vpa.yaml"
    policy.write_text(POLICY)
    capsys.readouterr()
    assert main(["recommend", "--history", str(demo), "--policy", str(policy),
                 "--format", "json", "--strategy", "vpa"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["generatedAt"].endswith("Z")
    entries = {(e["namespace"], e["workload"], e["container"]): e for e in doc["recommendations"]}
    web = entries[("shop", "Deployment/web", "web")]
    assert set(web) >= {"target", "lowerBound", "upperBound", "uncappedTarget",
                        "historySpanHours", "samples"}
    assert web["target"]["cpu"] == "300m"  # capped to maxAllowed
    assert web["uncappedTarget"]["cpu"] != "300m"
    assert web["samples"] > 2000
    assert web["target"]["memory"].isdigit() or web["target"]["memory"][-2:] in ("Ki", "Mi")


def test_ingest_then_recommend_from_store(demo, tmp_path, capsys):
    store = tmp_path / "h.db"
    assert main(["ingest", str(demo), "--store", str(store)]) == 0
    assert main(["ingest", str(demo), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert ", 0 new" in out.splitlines()[-1]
    assert main(["recommend", "--store", str(store)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["NAMESPACE", "WORKLOAD", "CONTAINER", "RESOURCE"]
    assert "Deployment/llm-inference" in table


def test_bad_input_is_a_clear_error_and_stores_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "1,ns,Deployment/a,p,c,cpu,1\n2,ns,Deployment/a,p,c,cpu,oops\n")
    store = tmp_path / "h.db"
    assert main(["ingest", str(bad), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3: field 'value' 'oops'" in err
    assert not store.exists() or main(["recommend", "--store", str(store)]) == 0
    assert "No recommendations" in capsys.readouterr().out or not store.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "magic"], "valid strategies: "),
        (["--gpu-model", "V100"], "valid models: "),
    ],
)
def test_unknown_options_list_valid_ones(demo, capsys, args, message):
    assert main(["recommend", "--history", str(demo), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_store_says_what_to_do(tmp_path, capsys):
    assert main(["recommend", "--store", str(tmp_path / "none.db")]) == 2
    assert "tidal-recommender ingest" in capsys.readouterr().err
