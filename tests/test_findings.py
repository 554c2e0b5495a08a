"""Findings: every sentence against the numbers it cites, on hand-built tables with known answers;
paired differences and their bootstrap; the small-sample warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import findings, stats
from analysis.findings import change, pct
from analysis.render import number
from simulation import registry

HILL, TAIL = registry.TOPIC_HILL1, registry.TAIL_SURVIVAL


def relative_rows(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    """(arm, x, median, low, high) rows of a relative table for one metric."""
    return pd.DataFrame(rows, columns=["arm", "x", "median", "low", "high"])


def test_threshold_sentence_names_where_each_policy_falls_below():
    table = relative_rows(
        [
            ("none", 0.0, 1.0, 0.98, 1.02),
            ("none", 0.5, 0.85, 0.8, 0.9),
            ("none", 0.9, 0.7, 0.65, 0.75),  # first below 0.8 at 0.9
            ("all", 0.0, 1.0, 0.99, 1.01),
            ("all", 0.5, 0.95, 0.9, 1.0),
            ("all", 0.9, 0.9, 0.85, 0.95),  # never below
        ]
    )
    s = findings.threshold_sentence(table, HILL, 0.8, "no-AI level")
    assert s.numbers["none_first"] == 0.9 and s.numbers["none_median"] == 0.7
    assert (s.numbers["none_low"], s.numbers["none_high"]) == (0.65, 0.75)
    assert "all_first" not in s.numbers
    assert s.text == (
        "Topic diversity (Hill-1) stays above 80% of its no-AI level up to AI share 0.9 only "
        f"with all; it falls below it with none from AI share {number(0.9)} "
        f"({pct(0.7)} [{pct(0.65)}, {pct(0.75)}])."
    )
    everyone = findings.threshold_sentence(table[table["arm"] == "none"], HILL, 0.8, "ref")
    assert everyone.text.startswith("Topic diversity (Hill-1) falls below 80% of its ref under ")


def test_threshold_sentence_when_every_policy_holds_names_the_lowest():
    table = relative_rows(
        [("none", 0.0, 1.0, 1.0, 1.0), ("none", 0.95, 0.91, 0.9, 0.92)]
        + [("all", 0.0, 1.0, 1.0, 1.0), ("all", 0.95, 0.97, 0.96, 0.98)]
    )
    s = findings.threshold_sentence(table, TAIL, 0.8, "no-AI level")
    assert s.numbers["worst_median"] == 0.91 and s.numbers["top"] == 0.95
    assert "under every policy up to the highest AI share tested (0.95)" in s.text
    assert f"lowest there: none at {pct(0.91)} [{pct(0.9)}, {pct(0.92)}]" in s.text


def test_safe_levels_stop_at_the_first_drop_even_if_it_recovers():
    block = pd.DataFrame({"x": [0.0, 0.2, 0.4, 0.6], "median": [1.0, 0.9, 0.7, 0.95]})
    assert findings.safe_levels(block, 0.8) == (0.2, 0.4)
    assert findings.safe_levels(block.assign(median=0.5), 0.8)[1] == 0.0


def test_policy_sentence_picks_the_largest_gain_at_the_highest_share():
    paired = pd.DataFrame(
        {
            "arm": ["reserve", "all", "reserve", "all"],
            "x": [0.5, 0.5, 0.95, 0.95],
            "mean": [9.0, 1.0, 2.0, 3.0],  # reserve is best at 0.5, all at 0.95
            "low": [8.0, 0.5, 1.0, 2.5],
            "high": [10.0, 1.5, 3.0, 3.5],
            "n": [4, 4, 4, 4],
        }
    )
    s = findings.policy_sentence(paired, HILL, "none")
    assert s.numbers == {"mean": 3.0, "low": 2.5, "high": 3.5, "n": 4.0, "x": 0.95}
    assert s.text.startswith("At AI share 0.95, all protects topic diversity (Hill-1) best: ")
    assert f"{change(3.0, HILL)} compared with none" in s.text and "[2.5, 3.5]" in s.text
    unclear = paired.assign(low=-1.0)
    assert "no policy clearly changes" in findings.policy_sentence(unclear, HILL, "none").text
    zero = paired.assign(mean=0.0, low=0.0, high=0.0)
    assert "the same under every policy" in findings.policy_sentence(zero, TAIL, "none").text


def test_decomposition_sentence_splits_the_effect():
    row = pd.Series(
        {"ai_effect": -20.0, "dilution": -15.0, "feedback": -5.0}
        | {"ai_effect_low": -24.0, "ai_effect_high": -16.0}
    )
    s = findings.decomposition_sentence(row, HILL, "with none at AI share 0.95")
    assert s.numbers["dilution_share"] == pytest.approx(0.75)
    assert s.text.startswith("With none at AI share 0.95, AI changed topic diversity (Hill-1) by")
    assert f"{change(-20.0, HILL)} (95% interval [-24, -16])" in s.text
    assert "75% of it is dilution" in s.text and "25% feedback" in s.text
    opposite = row.copy()
    opposite["feedback"], opposite["dilution"] = 5.0, -25.0
    assert "opposite directions" in findings.decomposition_sentence(opposite, HILL, "x").text


def test_pre_ai_and_shares_read_as_percentages():
    s = findings.pre_ai({HILL.name: 47.2, TAIL.name: 1.0})
    assert s.text == (
        "Before any AI text (step 0), topic diversity (Hill-1) was 47.2 effective topics and "
        "tail survival was 100% of tail topics."
    )
    assert s.numbers == {f"pre_ai_{HILL.name}": 47.2, f"pre_ai_{TAIL.name}": 1.0}


def test_small_sample_warning_for_two_not_for_ten():
    (warning,) = findings.sample_warnings(2)
    assert "range (min–max) of 2 runs" in warning and "3 values (0%, 50%, 100%)" in warning
    assert findings.sample_warnings(10) == []


def test_intervals_are_the_range_below_five_runs_and_quantiles_from_five():
    frame = pd.DataFrame({"arm": ["a"] * 3 + ["b"] * 6, "v": [1.0, 5.0, 3.0, *range(6)]})
    table = stats.intervals(frame, ["arm"], ["v"]).set_index("arm")
    assert (table.loc["a", "low"], table.loc["a", "high"], table.loc["a", "n"]) == (1.0, 5.0, 3)
    assert table.loc["b", "low"] == pytest.approx(np.quantile(np.arange(6.0), 0.05))
    assert table.loc["b", "median"] == 2.5


def test_paired_differences_are_per_replication_differences():
    """Two arms on the same (design point, replication) keys; the order of rows is shuffled."""
    frame = pd.DataFrame(
        {
            "arm": ["none", "none", "none", "all", "all", "all"],
            "design_point": [0, 0, 0, 0, 0, 0],
            "replication": [0, 1, 2, 2, 0, 1],
            "x": [0.5] * 6,
            "y": [10.0, 12.0, 11.0, 14.0, 13.0, 12.0],
        }
    )
    diffs = stats.paired_differences(frame, "y", "none", ["design_point", "replication"])
    by_rep = diffs.set_index("replication")["difference"].sort_index()
    assert by_rep.tolist() == [3.0, 0.0, 3.0]  # 13-10, 12-12, 14-11
    (row,) = stats.paired_table(
        frame, ["y"], "none", ["arm", "x"], ["design_point", "replication"]
    )[["mean", "low", "high", "n"]].itertuples(index=False)
    assert row.mean == pytest.approx(2.0) and row.n == 3
    assert 0.0 <= row.low <= row.mean <= row.high <= 3.0  # bootstrap means of {3, 0, 3}


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    first, second = stats.bootstrap_mean(values), stats.bootstrap_mean(values)
    assert first == second and first[0] == 2.5 and first[3] == 4
    assert 1.0 <= first[1] < 2.5 < first[2] <= 4.0
    assert stats.bootstrap_mean(np.array([np.nan]))[3] == 0


def robustness(ranks: dict[str, float]) -> dict:
    """A robustness section (analysis.discovery's shape) with these mean ranks, in order."""
    rows = [{"arm": arm, "mean_rank": rank, "cells": []} for arm, rank in ranks.items()]
    return {"metrics": [{"label": "m"}] * 3, "rows": rows, "ties": [], "points": 24}


def test_robustness_sentence_names_the_best_and_worst_policy_and_ties():
    one = findings.robustness_sentence(robustness({"detector": 1.5, "all": 2.0, "none": 2.5}), 24)
    assert one.text.startswith("Across the 24 sampled conditions of the web, the most robust")
    assert "policy is detector (mean regret rank 1.5 over 3 outcomes" in one.text
    assert one.text.endswith("the least robust is none (2.5).")
    assert one.numbers == {"best_rank": 1.5, "worst_rank": 2.5, "outcomes": 3}
    tie = findings.robustness_sentence(robustness({"a": 1.0, "b": 1.0, "c": 3.0}), 24)
    assert "a and b tie as the most robust policies" in tie.text
    assert findings.robustness_sentence(robustness({"a": 1.0}), 24) is None


def box_condition(chance: tuple[bool, ...]) -> dict:
    """A PRIM condition (analysis.discovery's shape): 30 of 120 runs, box coverage 0.6."""
    limits = [
        {"factor": f"factor {i}", "condition": f"≥ 0.{i}", "chance": c}
        for i, c in enumerate(chance, 1)
    ]
    return {
        "label": "Topic diversity ends at or below 0.9 × its pre-AI value",
        "note": "the threshold 0.9×",
        "cases": 30,
        "runs": 120,
        "box": {"stats": {"coverage": 0.6, "density": 0.75}, "limits": limits},
    }


def test_discovery_sentence_cites_only_limits_that_are_not_chance():
    clear = findings.discovery_sentence(box_condition((False, True, False)))
    assert clear.text == (
        "Topic diversity ends at or below 0.9 × its pre-AI value in 30 of 120 runs; 60% of "
        "them lie where factor 1 ≥ 0.1; factor 3 ≥ 0.3 (PRIM box holding 75% such runs)."
    )
    assert clear.numbers == {"cases": 30, "coverage": 0.6, "density": 0.75}
    vague = findings.discovery_sentence(box_condition((True, True)))
    assert "no region of the sampled conditions concentrates them" in vague.text
    assert findings.discovery_sentence({**box_condition(()), "box": None}) is None


def test_a_single_policy_gets_no_robustness_finding_and_no_paired_note():
    found = {"robustness": None, "points": 24, "conditions": [box_condition((False,))]}
    (only,) = findings.discovery_sentences(found)
    assert only.text.startswith("Topic diversity ends at or below")
    notes = " ".join(findings.reading_notes(False, "step0", 0.8))
    assert "no-policy arm" not in notes
    assert "no-policy arm" in " ".join(findings.reading_notes(True, "step0", 0.8))
