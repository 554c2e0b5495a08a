"""Statistics for the policy report: intervals across replications, paired differences on
common random numbers with bootstrap intervals, fans, tipping points, SALib.

All functions take plain DataFrames so they can be tested on synthetic data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LOW, HIGH = 0.05, 0.95
# Below this many runs a 5–95% quantile is the range in all but name: intervals are the range
# (min–max) and the report says so.
SMALL_SAMPLE = 5
RESAMPLES = 2000  # bootstrap resamples of a paired difference
CONFIDENCE = 0.95  # of bootstrap intervals and of the intervals of differences


def intervals(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Median and interval of each column within each group, long form: `by`, outcome, median,
    low, high, n (NaN values left out). The interval is the 5–95% quantiles, or the range
    (min–max) in a group of fewer than `SMALL_SAMPLE` values."""
    grouped = frame.groupby(by, sort=False, dropna=False)[columns]
    n = grouped.count()
    small = n < SMALL_SAMPLE
    parts = {
        "median": grouped.median(),
        "low": grouped.quantile(LOW).where(~small, grouped.min()),
        "high": grouped.quantile(HIGH).where(~small, grouped.max()),
        "n": n,
    }
    long = pd.concat({k: v.stack(future_stack=True) for k, v in parts.items()}, axis=1)
    long.index = long.index.set_names([*by, "outcome"])
    return long.reset_index().astype({"n": int})


def bootstrap_mean(
    values: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float, int]:
    """Mean of `values` (NaN left out) and its percentile bootstrap interval at `CONFIDENCE`.

    Seeded, so a report is reproducible. With one value the bounds are that value; with none
    all three are NaN.
    """
    sample = np.asarray(values, dtype=np.float64)
    sample = sample[~np.isnan(sample)]
    if sample.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    rng = np.random.default_rng(seed)
    means = sample[rng.integers(0, sample.size, (resamples, sample.size))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(sample.mean()), float(low), float(high), int(sample.size)


def paired_differences(
    frame: pd.DataFrame, column: str, baseline: str, pair: list[str]
) -> pd.DataFrame:
    """Each run's `column` minus that of the `baseline` arm's run with the same `pair` key.

    Arms share random numbers by (design_point, replication), so the pair differs only by
    policy (common random numbers). Returns the non-baseline runs with a `difference` column;
    a run whose pair is missing (a failed run) has none.
    """
    base = frame.loc[frame["arm"] == baseline, [*pair, column]].rename(columns={column: "_base"})
    others = frame[frame["arm"] != baseline].merge(base, on=pair, how="inner")
    return others.assign(difference=others[column] - others["_base"]).drop(columns="_base")


def paired_table(
    frame: pd.DataFrame, columns: list[str], baseline: str, by: list[str], pair: list[str]
) -> pd.DataFrame:
    """Per group `by` (which starts with `arm`) and column: the mean paired difference against
    `baseline` with its `bootstrap_mean` interval (long: `by`, outcome, mean, low, high, n)."""
    rows = []
    for column in columns:
        diffs = paired_differences(frame, column, baseline, pair)
        for key, group in diffs.groupby(by, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            mean, low, high, n = bootstrap_mean(group["difference"].to_numpy())
            rows.append(
                {**dict(zip(by, key, strict=True)), "outcome": column}
                | {"mean": mean, "low": low, "high": high, "n": n}
            )
    return pd.DataFrame(rows, columns=[*by, "outcome", "mean", "low", "high", "n"])


def share_below(frame: pd.DataFrame, by: list[str], column: str, threshold: float) -> pd.Series:
    """Per group: the fraction of runs whose `column` is below `threshold` (NaN runs ignored)."""
    below = (frame[column] < threshold).where(frame[column].notna())
    return below.groupby([frame[b] for b in by], sort=False, dropna=False).mean()


def relative_to_start(metrics: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each metric divided by its own run's step-0 (pre-AI archive) value; NaN where that is 0."""
    start = metrics[metrics["step"] == 0].set_index("run_id")[columns]
    base = start.loc[metrics["run_id"]].to_numpy()
    out = metrics.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out[columns] = np.where(base > 0, metrics[columns].to_numpy() / base, np.nan)
    return out


def fan(frame: pd.DataFrame, by: str, x: str, column: str) -> pd.DataFrame:
    """Quantile bands of `column` over `x` per group: columns group, x, low, median, high."""
    grouped = frame.groupby([by, x], sort=False)[column]
    out = grouped.quantile([LOW, 0.5, HIGH]).unstack()
    out.columns = ["low", "median", "high"]
    out = out.reset_index().rename(columns={by: "group", x: "x"})
    return out.sort_values(["group", "x"], kind="stable", key=_first_seen(out["group"]))


def _first_seen(groups: pd.Series):
    """A sort key that keeps groups in order of first appearance (not alphabetical)."""
    order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    return lambda col: col.map(order) if col.name == "group" else col


def first_crossing(x: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """The smallest x at which y falls to `threshold` (linear between points); NaN if never.

    `x` must be increasing. If y starts at or below the threshold the answer is x[0].
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    below = np.flatnonzero(y <= threshold)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (y0 - threshold) / (y0 - y1) * (x1 - x0))


@dataclass(frozen=True)
class Tipping:
    """Where one group's curve crosses the threshold, with the spread over its units."""

    group: str
    estimate: float  # median of the per-unit crossings (+inf: most units never cross)
    low: float  # 5% quantile of the per-unit crossings (units that never cross count as +inf)
    high: float
    crossed: int  # units whose own curve crosses
    units: int
    start: float  # the lowest x: an estimate equal to it means "already below at the start"


def tipping_points(curves: pd.DataFrame, threshold: float) -> list[Tipping]:
    """Tipping points per group from long curves with columns group, unit, x, y.

    A unit is one replication's curve (e.g. one replication across AI-share grid values, or one
    run over time); the estimate and interval are quantiles of the units' own crossings.
    """
    found = []
    for group, frame in curves.groupby("group", sort=False):
        per_unit = np.array(
            [
                first_crossing(u["x"].to_numpy(), u["y"].to_numpy(), threshold)
                for _, u in frame.sort_values("x").groupby("unit", sort=False)
            ]
        )
        crossed = int(np.isfinite(per_unit).sum())
        ranked = np.where(np.isfinite(per_unit), per_unit, np.inf)
        low, mid, high = (
            float(np.quantile(ranked, q, method="inverted_cdf")) for q in (LOW, 0.5, HIGH)
        )
        start = float(frame["x"].min())
        found.append(Tipping(str(group), mid, low, high, crossed, len(per_unit), start))
    return found


@dataclass(frozen=True)
class Sensitivity:
    """A SALib sensitivity table for one outcome, or the reason there is none."""

    method: str | None
    outcome: str
    table: pd.DataFrame | None
    reason: str = ""


def sensitivity(
    design: str,
    problem: dict[str, Any],
    points: pd.DataFrame,
    values: np.ndarray,
    outcome: str,
) -> Sensitivity:
    """Morris μ*/σ or Sobol S1/ST (with 95% confidence intervals) of `values` over `points`.

    `points` holds the design points in design order and `values` the outcome at each point
    (averaged over replications). Other designs, or missing values, give a reason instead.
    """
    if design not in ("morris", "sobol"):
        reason = (
            f"the sweep design is `{design}`; a sensitivity ranking needs a `morris` or `sobol` "
            "design, whose points are laid out for SALib's estimators"
        )
        return Sensitivity(None, outcome, None, reason)
    if not np.isfinite(values).all():
        reason = "some design points have no finished run, so the estimators cannot be computed"
        return Sensitivity(None, outcome, None, reason)
    rng = np.random.default_rng(0)
    if design == "morris":
        from SALib.analyze import morris

        res = morris.analyze(problem, points.to_numpy(dtype=float), values, seed=rng)
        columns, rank = ("mu_star", "mu_star_conf", "sigma"), "mu_star"
    else:
        from SALib.analyze import sobol

        res = sobol.analyze(problem, values, calc_second_order=False, seed=rng)
        columns, rank = ("S1", "S1_conf", "ST", "ST_conf"), "ST"
    table = pd.DataFrame({"factor": problem["names"], **{c: res[c] for c in columns}})
    return Sensitivity(design, outcome, table.sort_values(rank, ascending=False, ignore_index=True))
