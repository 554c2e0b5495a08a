"""analysis/discovery.py: PRIM finds a planted box, feature scores rank the planted factors
first, regrets equal hand-computed ones, and a grid sweep gets a reason instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt

from analysis.discovery import cases_of_interest, feature_scores, prim_box
from analysis.load import Results
from analysis.robustness import regret_table


def planted() -> tuple[pd.DataFrame, np.ndarray]:
    """400 LHS-like points over five factors; bad iff x1 > 0.7 and x2 < 0.3 (3% label noise)."""
    rng = np.random.default_rng(11)
    x = pd.DataFrame(rng.random((400, 5)), columns=["x1", "x2", "n1", "n2", "n3"])
    bad = (x["x1"] > 0.7) & (x["x2"] < 0.3)
    flip = rng.random(400) < 0.03
    return x, (bad ^ flip).to_numpy()


def test_prim_recovers_the_planted_box():
    x, y = planted()
    box = prim_box(x, y)
    limits = box["limits"].set_index("factor")
    assert set(limits.index) >= {"x1", "x2"}
    assert abs(limits.at["x1", "low"] - 0.7) < 0.06
    assert abs(limits.at["x2", "high"] - 0.3) < 0.06
    assert box["stats"]["coverage"] >= 0.5 and box["stats"]["density"] >= 0.8
    assert (limits.loc[["x1", "x2"], "qp"] < 0.05).all()


def test_feature_scores_rank_the_planted_factors_first():
    x, y = planted()
    scores = feature_scores(x, pd.Series(y.astype(float)), seed=3)
    assert set(scores.index[:2]) == {"x1", "x2"}
    assert abs(scores.sum() - 1.0) < 1e-9
    assert feature_scores(x, pd.Series(np.ones(len(x))), seed=3).isna().all()


def test_regret_equals_hand_computed_values():
    # Two design points × one replication × three arms; higher is better.
    table = pd.DataFrame(
        {
            "design_point": [0, 0, 0, 1, 1, 1],
            "replication": 0,
            "arm": ["a", "b", "c"] * 2,
            "v": [10.0, 8.0, 9.0, 5.0, 7.0, 7.0],
        }
    )
    # Regrets: point 0: a 0, b 2, c 1; point 1: a 2, b 0, c 0.
    ranked, dropped = regret_table(table, "v", higher_is_better=True, quantile=0.5)
    expected = pd.DataFrame(
        {
            "arm": ["c", "a", "b"],
            "max": [1.0, 2.0, 2.0],
            "quantile": [0.5, 1.0, 1.0],
            "mean": [0.5, 1.0, 1.0],
            "best": [0.5, 0.5, 0.5],
            "rank": [1, 2, 2],
        }
    )
    pdt.assert_frame_equal(ranked, expected, check_names=False)
    assert dropped == 0
    # Lower is better: regrets point 0: a 2, b 0, c 1; point 1: a 0, b 2, c 2.
    lower, _ = regret_table(table, "v", higher_is_better=False)
    # All maxima 2; 90th percentiles a 1.8, b 1.8, c 1.9; a and b tie throughout.
    assert list(lower["arm"]) == ["a", "b", "c"] and list(lower["rank"]) == [1, 1, 3]
    assert list(lower["quantile"]) == [1.8, 1.8, 1.9] and list(lower["mean"]) == [1.0, 1.0, 1.5]
    missing, dropped = regret_table(table.drop(index=5), "v", higher_is_better=True)
    assert dropped == 1 and list(missing["max"]) == [0.0, 1.0, 2.0]


def test_the_worst_quarter_replaces_a_threshold_no_run_meets():
    values = np.array([0.95, 0.9, 0.99, 0.85, 0.97, 0.93, 0.91, 0.96])
    cases, cut, fallback = cases_of_interest(values, 0.8)
    assert fallback and cut == np.quantile(values, 0.25) and cases.sum() == 2
    cases, cut, fallback = cases_of_interest(values, 0.94)
    assert not fallback and cut == 0.94 and cases.sum() == 4


def test_a_grid_sweep_gets_a_reason_and_no_figures(tmp_path):
    from analysis.discovery import discovery_section

    runs = pd.DataFrame(
        {"run_id": [0, 1], "arm": "a", "design_point": [0, 1], "replication": 0, "k": [1, 2]}
    )
    res = Results(
        Path(tmp_path), "sweep", {"sweep": {"design": "grid"}}, {}, runs, runs, runs, None, None
    )
    section = discovery_section(res, tmp_path)
    assert "sampled design" in section["reason"] and section["conditions"] == []
    assert not (tmp_path / "figures").exists()
