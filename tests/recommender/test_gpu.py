import pytest

from recommender.history import CPU, GPU, GPU_MEMORY, MEMORY
from recommender.logic.gpu import GPU_MODELS, gpu_model, size_gpu
from recommender.logic.recommend import recommend
from recommender.logic.strategies import VpaStrategy
from recommender.vpa import parse_vpa
from tests.recommender.builders import MI, model_of, steady, vpa

GB = 10**9
GiB = 2**30
A100 = GPU_MODELS["A100-80GB"]


def test_whole_devices():
    assert size_gpu(0.0, 0.0, None) == {}
    assert size_gpu(0.2, 0.0, None) == {"nvidia.com/gpu": 1.0}
    assert size_gpu(1.0, 0.0, None) == {"nvidia.com/gpu": 1.0}
    assert size_gpu(1.01, 0.0, None) == {"nvidia.com/gpu": 2.0}
    # memory forces more devices than compute: 100 GB on 80 GB devices
    assert size_gpu(0.3, 100 * GB, A100) == {"nvidia.com/gpu": 2.0}


def test_smallest_mig_profile_that_fits_memory_and_compute():
    assert size_gpu(0.1, 8 * GB, A100) == {"nvidia.com/mig-1g.10gb": 1.0}
    assert size_gpu(0.1, 15 * GB, A100) == {"nvidia.com/mig-1g.20gb": 1.0}
    assert size_gpu(0.25, 15 * GB, A100) == {"nvidia.com/mig-2g.20gb": 1.0}
    assert size_gpu(0.4, 35 * GB, A100) == {"nvidia.com/mig-3g.40gb": 1.0}
    assert size_gpu(0.5, 35 * GB, A100) == {"nvidia.com/mig-4g.40gb": 1.0}
    assert size_gpu(0.7, 35 * GB, A100) == {"nvidia.com/gpu": 1.0}  # needs more than 4/7
    # a 7g profile is the whole GPU: say so plainly
    assert size_gpu(0.1, 30 * GB, GPU_MODELS["A100-40GB"]) == {"nvidia.com/gpu": 1.0}
    assert size_gpu(0.1, 4 * GB, GPU_MODELS["A100-40GB"]) == {"nvidia.com/mig-1g.5gb": 1.0}
    assert size_gpu(0.1, 4 * GB, GPU_MODELS["L4"]) == {"nvidia.com/gpu": 1.0}  # no MIG


def test_unknown_gpu_model_lists_valid():
    with pytest.raises(ValueError, match="valid models: .*A100-80GB.*H100-80GB"):
        gpu_model("V100")
    assert gpu_model("h100-80gb").name == "H100-80GB"
    assert gpu_model(None) is None


def gpu_history(busy, memory_bytes, days=2):
    return model_of(
        steady(CPU, 0.5, days), steady(MEMORY, 300 * MI, days),
        steady(GPU, busy, days), steady(GPU_MEMORY, memory_bytes, days),
    )


def opt_in():
    return parse_vpa(vpa(policies=[{"containerName": "*",
                                    "controlledResources": ["cpu", "memory", "nvidia.com/gpu"]}]))


def test_gpu_is_opt_in_and_whole_numbers():
    model = gpu_history(1.6, 60 * GB)
    (plain,) = recommend(model, VpaStrategy(), [], GPU_MODELS["A100-80GB"])
    assert set(plain.target) == {"cpu", "memory"}
    (rec,) = recommend(model, VpaStrategy(), [opt_in()], GPU_MODELS["A100-80GB"])
    assert rec.target["nvidia.com/gpu"] == 2.0
    for values in (rec.target, rec.lower_bound, rec.upper_bound):
        gpu_values = [v for k, v in values.items() if k.startswith("nvidia.com/")]
        assert gpu_values and all(v == int(v) for v in gpu_values)
    assert rec.to_status()["target"]["nvidia.com/gpu"] == "2"


def test_mig_recommended_for_small_inference():
    model = gpu_history(0.1, 7 * GB)
    (rec,) = recommend(model, VpaStrategy(), [opt_in()], GPU_MODELS["H100-80GB"])
    assert rec.target == {
        "cpu": pytest.approx(rec.target["cpu"]),
        "memory": pytest.approx(rec.target["memory"]),
        "nvidia.com/mig-1g.10gb": 1.0,
    }


def test_gpu_bounds_in_policy_must_be_whole():
    obj = vpa(policies=[{"containerName": "*", "minAllowed": {"nvidia.com/gpu": "0.5"}}])
    with pytest.raises(ValueError, match="whole number"):
        parse_vpa(obj)


def test_gpu_model_names_are_exact_or_a_one_model_family():
    assert gpu_model("H200").name == "H200-141GB"  # the only H200
    for family, choices in (("A100", "A100-40GB or A100-80GB"), ("h100", "H100-80GB or H100-94GB")):
        with pytest.raises(ValueError, match=f"ambiguous GPU model '{family}': {choices}"):
            gpu_model(family)
    nvl = gpu_model("H100-94GB")
    assert max(p.memory_gb for p in nvl.mig) == 94
    with pytest.raises(ValueError, match="valid models: A100-40GB, A100-80GB, H100-80GB"):
        gpu_model("A100-80")


def test_cli_refuses_an_ambiguous_gpu_model(tmp_path, capsys):
    from recommender.cli import main

    assert main(["recommend", "--history", str(tmp_path / "none.csv"), "--gpu-model",
                 "A100"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous GPU model 'A100': A100-40GB or A100-80GB" in err
    assert len(err.strip().splitlines()) == 1


def test_bounds_are_counted_in_the_targets_resource():
    from recommender.logic.gpu import devices_of

    a100 = GPU_MODELS["A100-80GB"]
    # target 2g.20gb (0.25 busy, 15 GB); lower fits 1g.10gb, upper needs 30 GB
    assert size_gpu(0.25, 15 * GB, a100) == {"nvidia.com/mig-2g.20gb": 1.0}
    assert devices_of("nvidia.com/mig-2g.20gb", 0.1, 5 * GB, a100) == 1
    assert devices_of("nvidia.com/mig-2g.20gb", 0.3, 30 * GB, a100) == 2
    assert devices_of("nvidia.com/gpu", 1.5, 10 * GB, a100) == 2
    assert devices_of("nvidia.com/gpu", 0.2, 90 * GB, a100) == 2
    assert devices_of("nvidia.com/gpu", 0.0, 0.0, a100) == 0


def test_gpu_plans_whole_mig_and_shared():
    from recommender.logic.gpu import plan_gpu

    a100 = GPU_MODELS["A100-80GB"]
    whole = plan_gpu("whole", 0.2, 30 * GB, a100)
    # The "80GB" of the name is 80 GiB on the device (nvidia-smi: 81920MiB).
    assert (whole.resource, whole.devices, whole.reserved_bytes) == ("nvidia.com/gpu", 1, 80 * GiB)
    mig = plan_gpu("mig", 0.2, 30 * GB, a100)
    assert (mig.resource, mig.devices, mig.reserved_bytes) == (
        "nvidia.com/mig-3g.40gb", 3 / 7, 40 * GB)
    shared = plan_gpu("shared", 0.2, 30 * GB, a100)
    assert shared.resource == "nvidia.com/gpu.shared"
    assert shared.devices == pytest.approx(0.35)  # 30 GB / 80 GiB = 0.349, in twentieths
    assert shared.reserved_bytes == pytest.approx(28 * GiB)
    assert plan_gpu("shared", 0.7, 10 * GB, a100).devices == pytest.approx(0.7)  # busy decides
    # Falls back to whole GPUs: unknown model, more than one device, a new container.
    assert plan_gpu("shared", 0.2, 30 * GB, None).option == "whole"
    assert plan_gpu("shared", 1.5, 30 * GB, a100).devices == 2
    assert plan_gpu("shared", 0.2, 30 * GB, a100, history_h=0.5).option == "whole"
    assert plan_gpu("mig", 0.2, 30 * GB, GPU_MODELS["L4"]).option == "whole"  # no MIG
    assert plan_gpu("whole", 0.0, 0.0, a100) is None
