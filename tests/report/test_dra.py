"""DRA claim templates from GPU recommendations (validity: tests/e2e/test_dra_claims.py)."""

from __future__ import annotations

from recommender.logic.gpu import GPU_MODELS
from recommender.report.formats.dra import claim_templates
from recommender.report.model import GpuReport

GB = 10**9


def _report(busy: float, memory: float) -> GpuReport:
    return GpuReport("ml", "Deployment/llm", "server", 2, "A100-80GB", {"nvidia.com/gpu": 1},
                     1.0, None, None, None, None, None, {}, [], estimate=(busy, memory))


def _request(template: dict) -> dict:
    return template["spec"]["spec"]["devices"]["requests"][0]["exactly"]


def test_mig_whole_and_shared_templates():
    a100 = GPU_MODELS["A100-80GB"]
    mig, shared = claim_templates(_report(0.2, 30 * GB), a100)
    assert mig["metadata"]["name"] == "llm-server-gpu"
    assert _request(mig)["deviceClassName"] == "mig.nvidia.com"
    assert _request(mig)["selectors"][0]["cel"]["expression"] == \
        "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    config = shared["spec"]["spec"]["devices"]["config"][0]["opaque"]["parameters"]
    assert config["sharing"]["mpsConfig"] == {"defaultActiveThreadPercentage": 35,
                                              "defaultPinnedDeviceMemoryLimit": "28Gi"}
    (whole,) = claim_templates(_report(1.6, 100 * GB), a100)  # two devices, no sharing
    assert (_request(whole)["deviceClassName"], _request(whole)["count"]) == (
        "gpu.nvidia.com", 2)
    assert "quantity('72Gi')" in _request(whole)["selectors"][0]["cel"]["expression"]
    assert claim_templates(_report(0.0, 0.0), a100) == []
    (unknown,) = claim_templates(_report(0.2, 30 * GB), None)
    assert "selectors" not in _request(unknown)  # no model: any GPU
