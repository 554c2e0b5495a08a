"""simulation/ema.py: a scenario as an EMA Workbench model, bit-identical to the runner."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import dotted, registry
from simulation.runner import run_one
from simulation.scenario import ScenarioError, dump_yaml, validate
from tests.conftest import small_scenario

OUTCOMES = [registry.TOPIC_HILL1.name, registry.SYNTHETIC_SHARE.name]


@pytest.fixture
def scenario_file(tmp_path):
    sweep = {
        "design": "lhs",
        "factors": {
            "web.ai_share": {"low": 0.1, "high": 0.6},
            "humans.count": {"low": 100, "high": 300},
        },
        "arms": {"plain": {}, "reserve": {"filtering.human_reserve": 0.3}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(dump_yaml(small_scenario(steps=3, sweep=sweep)))
    return path


def test_perform_experiments_equals_runs_of_the_same_overrides(scenario_file):
    from simulation.ema import ema, ema_model

    model = ema_model(scenario_file, outcomes=OUTCOMES)
    assert [u.name for u in model.uncertainties] == ["web__ai_share", "humans__count"]
    assert isinstance(model.uncertainties["humans__count"], ema.IntegerParameter)
    policy = ema.Sample("reserve", arm="reserve")
    with ema.SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=3, policies=[policy])
    assert len(experiments) == 3 and outcomes[OUTCOMES[0]].shape == (3, 4)
    base = {**small_scenario(steps=3).to_dict(), "sweep": None}
    row = experiments.iloc[1]
    config = dotted.updated(
        base,
        {
            "filtering.human_reserve": 0.3,
            "web.ai_share": float(row["web__ai_share"]),
            "humans.count": int(row["humans__count"]),
        },
    )
    frame = run_one(validate(config, "test")).metrics
    for name in OUTCOMES:
        np.testing.assert_array_equal(outcomes[name][1], frame[name].to_numpy())


def test_bad_keys_and_bounds_fail_before_anything_runs(scenario_file):
    from simulation.ema import ema_model

    with pytest.raises(ScenarioError, match="unknown scenario key 'web.ai_shar'"):
        ema_model(scenario_file, uncertainties={"web.ai_shar": (0.0, 1.0)})
    with pytest.raises(ScenarioError, match="web.ai_share = 1.5"):
        ema_model(scenario_file, uncertainties={"web.ai_share": (0.0, 1.5)})
    with pytest.raises(ScenarioError, match="no registry metric"):
        ema_model(scenario_file, outcomes=["hill"])
