"""Replay: step times, no future samples, OOM feedback, CSV command."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from recommender.backtest.replay import REPLAY_COLUMNS, replay, step_times
from recommender.commands.common import load_policies
from recommender.history import Samples
from recommender.logic.recommend import recommend
from recommender.logic.strategies import STRATEGIES, VpaStrategy
from recommender.model.state import UsageModel
from tests.recommender.builders import DAY, MI, T0

HOUR = 3600.0


def noisy(days: float, seed: int = 1) -> Samples:
    """Two workloads, 5-minute CPU and memory samples with a daily tide and noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, scale in (("web", 1.0), ("batch", 3.0)):
        times = np.arange(T0, T0 + days * DAY, 300.0)
        tide = 1.0 + 0.5 * np.sin(2 * np.pi * times / DAY)
        for resource, base in (("cpu", scale), ("memory", scale * 512 * MI)):
            values = base * tide * rng.uniform(0.7, 1.3, len(times))
            n = len(times)
            parts.append(Samples.from_columns(
                times, ["shop"] * n, [f"Deployment/{name}"] * n, [f"{name}-1"] * n, ["app"] * n,
                [resource] * n, values,
            ))
    return Samples.concat(parts)


def test_step_times_are_aligned_and_cover_every_sample():
    steps = step_times(T0 + 10.0, T0 + 2 * HOUR, HOUR)
    assert steps.tolist() == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]


@pytest.mark.parametrize("strategy", ["vpa", "tidal", "percentile"])
def test_replay_uses_no_future_samples(strategy):
    """Recommendations up to a cut are the same whether or not later samples exist."""
    full = noisy(2.0)
    cut = T0 + 30 * HOUR
    head = full.select(full.timestamp < cut)
    a = replay(full, STRATEGIES.create(strategy))
    b = replay(head, STRATEGIES.create(strategy))
    rows_a = [r for r in a.rows() if r[0] <= cut]
    rows_b = [r for r in b.rows() if r[0] <= cut]
    assert rows_a and rows_a == rows_b


def test_each_step_equals_a_model_of_the_samples_before_it():
    samples = noisy(1.5).sorted_by_time()
    table = replay(samples, VpaStrategy(), oom_feedback=False)
    t = float(table.steps[20])
    model = UsageModel()
    model.ingest(samples.select(samples.timestamp < t))
    expected = {(r.workload, res): v for r in recommend(model, VpaStrategy())
                for res, v in r.target.items()}
    got = {(w, res): tgt for ts, _, w, _, res, tgt, _, _ in table.rows() if ts == t}
    assert got == expected


def test_memory_over_target_feeds_back_an_oom():
    times = np.arange(T0, T0 + 2 * DAY, 300.0)
    values = np.where(times < T0 + DAY, 200 * MI, 900 * MI)
    n = len(times)
    samples = Samples.from_columns(times, ["ns"] * n, ["Deployment/w"] * n, ["w-1"] * n,
                                   ["c"] * n, ["memory"] * n, values)
    with_oom = replay(samples, VpaStrategy())
    without = replay(samples, VpaStrategy(), oom_feedback=False)
    step = int(np.searchsorted(with_oom.steps, T0 + DAY + HOUR)) + 1
    after = with_oom.matrix("memory")[step, 0]
    assert after > without.matrix("memory")[step, 0]
    assert after >= 900 * MI * 1.2  # the model's OOM bump of the memory at the kill


def test_empty_history_and_bad_step():
    assert len(replay(Samples.empty(), VpaStrategy())) == 0
    with pytest.raises(ValueError):
        replay(noisy(0.1), VpaStrategy(), every_s=0)


def test_replay_command_writes_the_contract(tmp_path):
    from recommender.cli import main
    from recommender.input.csv_history import write_history

    history = tmp_path / "h.csv"
    with open(history, "w") as out:
        write_history(noisy(1.0), out)
    output = tmp_path / "recs.csv"
    assert main(["replay", "--history", str(history), "--every", "6h", "--strategy", "vpa",
                 "--output", str(output)]) == 0
    with open(output) as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == REPLAY_COLUMNS
    assert {r[4] for r in rows[1:]} == {"cpu", "memory"}
    memory = [r for r in rows[1:] if r[4] == "memory"]
    assert all(v.isdigit() for r in memory for v in r[5:8])  # whole bytes, no 2.6e+08
    assert {float(r[0]) % (6 * HOUR) for r in rows[1:]} == {0.0}
    assert len({r[0] for r in rows[1:]}) == 4  # steps at 6, 12, 18, 24 h


def test_controlled_resources_add_gpus_for_workloads_without_a_vpa():
    times = np.arange(T0, T0 + 2 * HOUR, 60.0)
    n = len(times)
    parts = [Samples.from_columns(times, ["ml"] * n, ["Deployment/infer"] * n, ["i-1"] * n,
                                  ["main"] * n, [r] * n, np.full(n, v))
             for r, v in (("gpu", 0.1), ("gpu_memory", 5e9), ("memory", 1e9))]
    samples = Samples.concat(parts)
    from recommender.logic.gpu import gpu_model

    plain = replay(samples, VpaStrategy(), gpu=gpu_model("A100-80GB"))
    assert set(plain.resource) == {"cpu", "memory"}
    with_gpu = replay(samples, VpaStrategy(), gpu=gpu_model("A100-80GB"),
                      controlled=("cpu", "memory", "nvidia.com/gpu"))
    # The contract: GPUs as devices (a 1g.10gb slice = 1/7) and the GPU memory reserved.
    assert {"nvidia.com/gpu", "gpu_memory"} <= set(with_gpu.resource)
    last = {r: t for _, _, _, _, r, t, _, _ in with_gpu.rows()}
    assert last["nvidia.com/gpu"] == pytest.approx(1 / 7)
    assert last["gpu_memory"] == 10e9
    whole = replay(samples, VpaStrategy(), gpu=gpu_model("A100-80GB"), gpu_option="whole",
                   controlled=("cpu", "memory", "nvidia.com/gpu"))
    last = {r: t for _, _, _, _, r, t, _, _ in whole.rows()}
    assert (last["nvidia.com/gpu"], last["gpu_memory"]) == (1.0, 80 * 2**30)
    shared = replay(samples, VpaStrategy(), gpu=gpu_model("A100-80GB"), gpu_option="shared",
                    controlled=("cpu", "memory", "nvidia.com/gpu"))
    last = {r: t for _, _, _, _, r, t, _, _ in shared.rows()}
    assert last["nvidia.com/gpu"] == pytest.approx(last["gpu_memory"] / (80 * 2**30))
    # The larger of the memory share (5 GB peak + margin: 6 GiB of 80) and the busy share
    # (0.1 + margin, in percent): 0.13.
    assert last["nvidia.com/gpu"] == pytest.approx(0.13)


def _replay_csv(tmp_path, samples: Samples, *flags: str) -> dict[float, float]:
    """``replay --every 1h`` of ``samples`` with ``flags``: CPU target by step time."""
    from recommender.cli import main
    from recommender.input.csv_history import write_history

    history = tmp_path / "tide.csv"
    with open(history, "w") as out:
        write_history(samples, out)
    output = tmp_path / "out.csv"
    assert main(["replay", "--history", str(history), "--every", "1h", *flags,
                 "--output", str(output)]) == 0
    with open(output) as handle:
        rows = list(csv.DictReader(handle))
    return {float(r["timestamp"]): float(r["target"]) for r in rows if r["resource"] == "cpu"}


def test_replay_update_mode_initial_publishes_held_targets(tmp_path):
    """The contract: ``--update-mode Initial`` writes what a VPA of that mode carries (held
    targets, the same all day), ``InPlaceOrRecreate`` the targets it resizes pods to."""
    times = np.arange(T0, T0 + 5 * DAY, 300.0)
    hour = (times % DAY) / HOUR
    n = len(times)
    samples = Samples.from_columns(times, ["shop"] * n, ["Deployment/web"] * n, ["web-1"] * n,
                                   ["app"] * n, ["cpu"] * n,
                                   np.where((hour >= 9) & (hour < 17), 3.0, 0.5))
    held = _replay_csv(tmp_path, samples, "--update-mode", "Initial")
    moving = _replay_csv(tmp_path, samples, "--update-mode", "InPlaceOrRecreate")
    assert moving == _replay_csv(tmp_path, samples)  # in place is the default
    last_day = [t for t in held if T0 + 4 * DAY < t <= T0 + 5 * DAY]
    assert len({held[t] for t in last_day}) == 1 and held[last_day[0]] >= 3.0
    assert min(moving[t] for t in last_day) < 1.0 <= 3.0 <= max(moving[t] for t in last_day)


def test_replay_follows_each_policy_vpas_update_mode(tmp_path):
    samples = noisy(3.0)
    policy = tmp_path / "vpas.yaml"
    policy.write_text(
        "apiVersion: autoscaling.k8s.io/v1\nkind: VerticalPodAutoscaler\n"
        "metadata: {name: web, namespace: shop}\n"
        "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        "  updatePolicy: {updateMode: Initial}\n"
    )
    tidal = STRATEGIES.create("tidal")
    table = replay(samples, tidal, HOUR, load_policies([policy]))
    cpu = table.matrix("cpu")
    web = [i for i, k in enumerate(table.keys) if k.workload == "Deployment/web"][0]
    batch = [i for i, k in enumerate(table.keys) if k.workload == "Deployment/batch"][0]
    day3 = slice(len(table.steps) - 20, len(table.steps) - 1)
    assert len(set(cpu[day3, web].tolist())) == 1  # Initial: held all day
    assert len(set(cpu[day3, batch].tolist())) > 1  # no VPA: in place, hour by hour
