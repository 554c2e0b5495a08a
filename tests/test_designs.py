"""Sweep designs: grid, LHS, Sobol and Morris points, arms, seeds and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.designs import build
from simulation.scenario import ScenarioError
from tests.conftest import small_scenario


def _design(sweep, **sections):
    return build(small_scenario(sweep=sweep, **sections))


def test_grid_is_the_product_of_factor_lists_times_arms_and_replications():
    design = _design(
        {
            "factors": {"web.ai_share": [0.1, 0.5, 0.9], "models.top_p": [0.9, 1.0]},
            "arms": {
                "none": {"filtering.detector": None},
                "reserve": {"filtering.human_reserve": 0.2},
            },
        },
        replications=2,
    )
    table = design.table
    assert len(design.points) == 6 and len(table) == 2 * 6 * 2
    assert table["run_id"].tolist() == list(range(24))
    assert set(map(tuple, design.points.to_numpy())) == {
        (a, p) for a in (0.1, 0.5, 0.9) for p in (0.9, 1.0)
    }
    # Common random numbers: every arm runs the same (design_point, replication) keys.
    keys = table.groupby("arm")[["design_point", "replication"]].apply(
        lambda g: list(map(tuple, g.to_numpy()))
    )
    assert keys["none"] == keys["reserve"]
    config = design.config("reserve", 5)
    assert config["filtering"]["human_reserve"] == 0.2
    assert (config["web"]["ai_share"], config["models"]["top_p"]) == (0.9, 1.0)
    assert config["sweep"] is None
    assert design.config("none", 0)["filtering"]["detector"] is None
    assert design.base["filtering"]["human_reserve"] == 0.0  # arms never leak into the base


def test_no_arms_means_one_arm_named_after_the_scenario():
    design = _design({"factors": {"web.ai_share": [0.2, 0.4]}})
    assert list(design.arms) == ["small"] and len(design.table) == 2


def test_lhs_puts_one_point_in_every_stratum_and_is_reproducible():
    sweep = {
        "design": "lhs",
        "samples": 20,
        "factors": {
            "web.ai_share": {"low": 0.0, "high": 0.8},
            "models.count": {"low": 1, "high": 4},
        },
    }
    points = _design(sweep).points
    strata = np.floor(points["web.ai_share"].to_numpy() / 0.8 * 20).astype(int)
    assert sorted(strata) == list(range(20))
    assert points["models.count"].dtype == np.int64  # integer keys are rounded
    assert set(points["models.count"]) <= {1, 2, 3, 4}
    assert _design(sweep).points.equals(points)
    assert not build(small_scenario(seed=8, sweep=sweep)).points.equals(points)


def test_sobol_size_and_power_of_two():
    factors = {"web.ai_share": {"low": 0.0, "high": 0.9}, "models.top_p": {"low": 0.5, "high": 1.0}}
    points = _design({"design": "sobol", "samples": 8, "factors": factors}).points
    assert len(points) == 8 * (2 + 2)  # N (D + 2) without second-order indices
    assert points["models.top_p"].between(0.5, 1.0).all()
    with pytest.raises(ScenarioError, match="power of two.*got 12"):
        _design({"design": "sobol", "samples": 12, "factors": factors})


def test_morris_trajectories_move_one_factor_per_step():
    factors = {
        "web.ai_share": {"low": 0.0, "high": 0.9},
        "models.top_p": {"low": 0.5, "high": 1.0},
        "filtering.human_reserve": {"low": 0.0, "high": 0.3},
    }
    points = _design({"design": "morris", "samples": 5, "factors": factors}).points.to_numpy()
    assert points.shape == (5 * 4, 3)
    for traj in points.reshape(5, 4, 3):
        moved = (np.diff(traj, axis=0) != 0).sum(axis=1)
        assert moved.tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            {"factors": {"web.ai_share": {"low": 0.1, "high": 0.5}}},
            "grid design needs a non-empty list",
        ),
        ({"design": "lhs", "factors": {"web.ai_share": [0.1, 0.2]}}, "lhs design needs a range"),
        ({"factors": {"web.ai_share": [0.5, 1.5]}}, "design point 1: web.ai_share"),
        ({"arms": {"big": {"filtering.human_reserve": 3}}}, "sweep arm 'big'.*human_reserve"),
    ],
)
def test_bad_designs_name_the_key(sweep, message):
    with pytest.raises(ScenarioError, match=message):
        _design(sweep)


def test_unknown_arm_key_and_empty_sweep_are_rejected():
    with pytest.raises(ScenarioError, match="sweep.arms.x: unknown scenario key 'web.nope'"):
        _design({"arms": {"x": {"web.nope": 1}}})
    with pytest.raises(ScenarioError, match="at least one entry"):
        _design({"design": "grid"})


@pytest.mark.parametrize(
    "sweep",
    [
        {"design": "lhs", "samples": 6},
        {"design": "sobol", "samples": 4},
        {"design": "morris", "samples": 3},
        {"design": "grid"},
    ],
)
def test_the_counted_points_are_the_built_points(sweep):
    """What check and the budget count (Sweep.n_points) is what a sweep runs."""
    factors = (
        {"web.ai_share": [0.1, 0.5], "humans.copy_rate": [0.0, 0.01, 0.02]}
        if sweep["design"] == "grid"
        else {
            "web.ai_share": {"low": 0.1, "high": 0.9},
            "humans.copy_rate": {"low": 0, "high": 0.1},
        }
    )
    scenario = small_scenario(sweep={**sweep, "factors": factors})
    assert scenario.sweep.n_points() == len(build(scenario, "t").points)
