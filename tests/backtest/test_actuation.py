"""Actuation at creation: pods recreated every lifetime carry the target of their creation."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.backtest.actuation import creation_steps, phase_s
from recommender.backtest.replay import replay
from recommender.backtest.score import score
from recommender.logic.strategies import VpaStrategy
from recommender.model.state import ContainerKey
from tests.backtest.test_replay import HOUR, noisy
from tests.recommender.builders import DAY, T0


def test_each_workload_is_recreated_every_lifetime_at_its_own_phase() -> None:
    steps = T0 + HOUR * np.arange(1, 49)
    keys = [ContainerKey("shop", "Deployment/web", "app"), ContainerKey("shop", "Deployment/web",
            "side"), ContainerKey("shop", "Deployment/batch", "app")]  # fmt: skip
    creation = creation_steps(steps, keys, HOUR, 6 * HOUR)
    assert (creation[:, 0] == creation[:, 1]).all()  # one workload's containers: one phase
    for k, key in enumerate(keys):
        phase = phase_s(key, 6 * HOUR, HOUR)
        assert 0 <= phase < 6 * HOUR and phase % HOUR == 0
        sources = creation[:, k]
        assert (sources <= np.arange(len(steps))).all()  # never a target from the future
        changes = np.flatnonzero(np.diff(sources)) + 1
        assert len(changes) >= 7  # a new pod every 6 h over 48 h
        for at in changes:
            assert sources[at] == at  # a recreated pod takes the target just published
            assert (steps[at] - phase) % (6 * HOUR) == 0
    with pytest.raises(ValueError):
        creation_steps(steps, keys, HOUR, 0)


def test_replay_at_creation_holds_each_target_for_the_pods_life() -> None:
    samples = noisy(4.0)
    live = replay(samples, VpaStrategy(), oom_feedback=False)
    frozen = replay(samples, VpaStrategy(), oom_feedback=False, lifetime_s=DAY)
    cpu_live, cpu_frozen = live.matrix("cpu"), frozen.matrix("cpu")
    creation = creation_steps(live.steps, live.keys, HOUR, DAY)
    for k in range(len(live.keys)):
        for s in range(len(live.steps)):
            source = creation[s, k]
            if source < 0:
                assert np.isnan(cpu_frozen[s, k])
            else:
                assert cpu_frozen[s, k] == cpu_live[source, k]
    # Targets are held for a day at a time, so they change about once a day per workload.
    changes = (np.diff(cpu_frozen[30:], axis=0) != 0).sum(axis=0)
    assert (changes <= 3).all()


def test_a_rise_after_creation_is_met_only_by_the_next_pod() -> None:
    """In place, the target follows a step up at once; frozen, it waits for the next pod."""
    base = noisy(3.0, seed=3)
    rise = base.value.copy()
    late = base.timestamp >= T0 + 2 * DAY
    rise[late & (base.resource == "cpu")] *= 3.0
    from recommender.history import Samples

    samples = Samples(base.timestamp, base.namespace, base.workload, base.pod, base.container,
                      base.resource, rise)  # fmt: skip
    start = T0 + DAY
    in_place = score(replay(samples, VpaStrategy()), samples, "vpa", start)
    at_creation = score(replay(samples, VpaStrategy(), lifetime_s=2 * DAY), samples, "vpa", start)
    assert at_creation.overall["cpu"].under_hours > in_place.overall["cpu"].under_hours


def test_the_backtest_command_takes_actuation_and_pod_lifetime(tmp_path, capsys) -> None:
    from recommender.cli import main
    from recommender.input.csv_history import write_history

    history = tmp_path / "h.csv"
    with open(history, "w") as out:
        write_history(noisy(3.0), out)
    assert main(["backtest", "--history", str(history), "--strategy", "vpa", "--format", "json",
                 "--actuation", "creation", "--pod-lifetime", "24h"]) == 0
    out = capsys.readouterr().out
    assert '"actuation": "creation"' in out and '"pod_lifetime_s": 86400.0' in out
    assert main(["backtest", "--history", str(history), "--actuation", "creation",
                 "--pod-lifetime", "0h"]) == 2
    assert "--pod-lifetime must be positive" in capsys.readouterr().err
