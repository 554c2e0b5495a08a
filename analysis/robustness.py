"""Robustness of policies across an ensemble: regret on common random numbers.

For each design point and replication the policy arms share their random numbers, so they can
be compared run against run: an arm's regret there is how far its final value falls short of
the best arm's (in the diverse direction of the metric). An arm that is never far from the best,
whatever the sampled conditions, is robust (a minimax-regret ranking, as in robust decision
making with the EMA Workbench).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.load import SPAWN_KEY
from simulation import registry

ARM = "arm"
REGRET_QUANTILE = 0.9


def regret_table(
    table: pd.DataFrame,
    value: str,
    higher_is_better: bool,
    quantile: float = REGRET_QUANTILE,
) -> tuple[pd.DataFrame, int]:
    """Regret of each arm across the ensemble, ranked (most robust first), and how many design
    points and replications were left out because an arm's run is missing there.

    For each (design point, replication) the arms share their random numbers; an arm's regret
    there is the best arm's `value` minus its own (reversed when lower is better). Columns:
    arm, max, quantile, mean regret, `best` (share of points where the arm is best) and `rank`
    (1 = most robust: smallest max, then quantile, then mean regret; ties share a rank).
    """
    wide = table.pivot_table(index=SPAWN_KEY, columns=ARM, values=value, sort=False)
    complete = wide.dropna()
    sign = 1.0 if higher_is_better else -1.0
    signed = sign * complete
    regret = signed.max(axis=1).to_numpy()[:, None] - signed
    best = regret.eq(0.0)
    out = pd.DataFrame(
        {
            "max": regret.max(),
            "quantile": regret.quantile(quantile),
            "mean": regret.mean(),
            "best": best.mean(),
        }
    )
    keys = ["max", "quantile", "mean"]
    out = out.sort_values(keys, kind="stable").rename_axis(ARM).reset_index()
    first = ~out.duplicated(subset=keys)  # tied arms share the rank of the first of them
    out["rank"] = pd.Series(np.where(first, np.arange(1, len(out) + 1), np.nan)).ffill()
    out["rank"] = out["rank"].astype(np.int64)
    return out, len(wide) - len(complete)


def robust_metrics(table: pd.DataFrame) -> tuple[registry.Metric, ...]:
    """The outcomes policies are judged on: the registry's `outcome` view metrics that have a
    diverse direction and a final value in `table`."""
    return tuple(
        m
        for m in registry.shown_in("outcome")
        if m.higher_is_diverse is not None and m.final in table.columns
    )


def robustness_section(table: pd.DataFrame) -> dict[str, Any]:
    """Regret of every arm on every robustness metric, with per-metric ranks (1 = most robust:
    smallest largest regret, then 90th percentile) and rows ordered by their mean rank.

    Metrics on which every arm ties in every condition are listed in `ties`, not tabulated.
    """
    metrics, tables, ties, dropped = [], [], [], 0
    for metric in robust_metrics(table):
        higher = bool(metric.higher_is_diverse)
        ranked, dropped = regret_table(table, metric.final, higher)
        if not ranked["max"].gt(0).any():
            ties.append(metric.label)
            continue
        metrics.append(
            {
                "label": metric.label,
                "unit": metric.unit,
                "direction": "higher" if higher else "lower",
            }
        )
        tables.append(ranked.set_index(ARM))
    arms = list(tables[0].index) if tables else []
    rows = [
        {
            "arm": arm,
            "mean_rank": float(np.mean([t.at[arm, "rank"] for t in tables])),
            "cells": [{**t.loc[arm].to_dict(), "rank": int(t.at[arm, "rank"])} for t in tables],
        }
        for arm in arms
    ]
    rows.sort(key=lambda row: row["mean_rank"])
    points = table.groupby(SPAWN_KEY).ngroups - dropped
    return {"metrics": metrics, "rows": rows, "ties": ties, "points": points, "dropped": dropped}
