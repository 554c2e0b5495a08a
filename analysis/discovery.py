"""Scenario discovery and robustness of a sampled sweep (LHS, Sobol or Morris), with EMA Workbench.

What a policy analyst asks of an exploratory ensemble, answered from a sweep folder:

- **Scenario discovery (PRIM).** Under which conditions does a risk metric (the registry's
  `risk` view) end below `threshold` × its pre-AI (step 0) value? PRIM peels the factor space
  (and the policy arm, as a categorical dimension) towards the runs where it does; each box on
  the peeling trajectory trades coverage (share of all such runs inside the box) against density
  (share of the box's runs that are such runs). The chosen box is the densest one that still
  covers at least `MIN_COVERAGE` of them.
- **Feature scoring.** Extra-trees importance of each factor (and the arm) for each risk
  metric's final value relative to its pre-AI value.
- **Robustness.** On common random numbers (the arms of a design point and replication share
  their seed), the regret of an arm is the best arm's final value minus its own (in the
  diverse direction of the metric); arms are ranked by their largest regret, then its 90th
  percentile, across the ensemble.
- **Envelopes.** The report's trajectory metrics (`fan` view) over time per arm: median,
  5–95% band and min–max envelope.

EMA Workbench (and scikit-learn) take seconds to import, so they are imported only when a
sampled design is analysed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from analysis import figures, plots, render, stats
from analysis.load import Results
from analysis.robustness import ARM, REGRET_QUANTILE, robustness_section
from simulation import registry, runner

SAMPLED_DESIGNS = ("lhs", "sobol", "morris")
THRESHOLD = 0.8  # a risk metric "collapses" below this share of its pre-AI value (the report's)
MIN_COVERAGE = 0.5  # the chosen PRIM box covers at least half the runs of interest
MIN_SHARE = 0.05  # a threshold met by fewer (or more than all but) this share of runs…
WORST = 0.25  # …is replaced by this quantile: the worst quarter of runs
SIGNIFICANT = 0.05  # a box limit with a larger quasi-p value may be chance (Bryant & Lempert)
TREES = 200  # extra trees per feature-scoring forest


def discovery_section(
    res: Results, folder: Path, threshold: float = THRESHOLD, seed: int | None = None
) -> dict[str, Any]:
    """Everything `discovery.html.j2` / `discovery.md.j2` render, figures written to `folder`.

    Keys: `reason` ('' when there is an analysis, else why not), `threshold`, `min_coverage`,
    `quantile`, `runs`, `points`, `factors` (key, low, high), `conditions` (one per risk
    metric: PRIM box and trade-off figure, or its reason), `scores` (feature-scoring table),
    `robustness` (regret of every arm on every outcome metric with a direction, ranked) and
    `envelopes` (a figure).
    """
    factors, reason = sampled_factors(res)
    empty = {"conditions": [], "scores": None, "robustness": None, "envelopes": None}
    if reason:
        return {"reason": reason, "threshold": threshold, **empty}
    table = run_table(res)
    seed = int(res.scenario.get("seed", 0)) % 2**32 if seed is None else seed
    x = table[[*factors, ARM]]
    risks = registry.shown_in("risk")
    conditions = [
        condition(x, table[f"rel_{m.name}"], m, threshold, folder, f"prim_{m.name}") for m in risks
    ]
    scores = pd.DataFrame(
        {m.label: feature_scores(x, table[f"rel_{m.name}"], seed) for m in risks}
    ).reindex([*factors, ARM])
    robustness = robustness_section(table) if len(res.arms) > 1 else None  # no policies to rank
    ranges = res.scenario["sweep"]["factors"]
    return {
        "reason": "",
        "threshold": threshold,
        "min_coverage": MIN_COVERAGE,
        "quantile": REGRET_QUANTILE,
        "runs": len(table),
        "points": int(table["design_point"].nunique()),
        "arms": res.arms,
        "factors": [
            {"key": k, "low": ranges[k]["low"], "high": ranges[k]["high"]} for k in factors
        ],
        "conditions": conditions,
        "scores": {
            "columns": list(scores.columns),
            "top": list(scores.max()),
            "rows": [
                {"factor": factor_label(f), "scores": list(row)} for f, row in scores.iterrows()
            ],
        },
        "robustness": robustness,
        "envelopes": figures.envelope_figure(res, varying(table, registry.shown_in("fan")), folder),
    }


def ema_analysis() -> ModuleType:
    """`ema_workbench.analysis`, imported on first use without EMA's start-up warnings (about
    optional cluster back-ends)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not installed", category=UserWarning)
        import ema_workbench.analysis.feature_scoring
        import ema_workbench.analysis.prim
        import ema_workbench.analysis.scenario_discovery_util  # noqa: F401

    return ema_workbench.analysis


def sampled_factors(res: Results) -> tuple[list[str], str]:
    """The factors of a sampled design, or '' and why there is no factor-level analysis."""
    sweep = res.scenario.get("sweep")
    if res.kind != "sweep" or not sweep:
        return [], "this is a single scenario run, not a sweep: there are no factors to explore"
    design = sweep.get("design", "grid")
    if design not in SAMPLED_DESIGNS or not res.factors:
        return [], (
            f"the design is a {design} without continuous factors; scenario discovery needs a "
            "sampled design (lhs, sobol or morris) over factor ranges {low, high}"
        )
    if res.runs["design_point"].nunique() < 4:
        return [], "fewer than four design points have finished runs"
    return list(res.factors), ""


def factor_label(column: str) -> str:
    """How a PRIM or scoring dimension is shown: the policy arm, or the scenario key."""
    return "policy arm" if column == ARM else column


def run_table(res: Results) -> pd.DataFrame:
    """One row per finished run: design columns, factors, the final value of every summarised
    metric and each risk metric's final value relative to the run's pre-AI (step 0) value
    (`rel_<name>`)."""
    metrics = res.metrics
    if runner.TWIN in metrics.columns:
        metrics = metrics[metrics[runner.TWIN] == runner.FULL]
    risks = [m.name for m in registry.shown_in("risk")]
    rel = stats.relative_to_start(metrics, risks)
    last = rel.sort_values("step").groupby("run_id")[risks].last().add_prefix("rel_")
    wanted = [m.final for m in registry.SUMMARISED if m.final in res.summary.columns]
    finals = res.summary.set_index("run_id")[wanted]
    return res.runs.join(finals, on="run_id").join(last, on="run_id")


def prim_box(x: pd.DataFrame, y: np.ndarray, min_coverage: float = MIN_COVERAGE) -> dict[str, Any]:
    """PRIM (EMA Workbench) on boolean cases of interest `y`: the peeling trajectory, the chosen
    box (the densest with coverage ≥ `min_coverage`) and its limits on restricted dimensions.

    `limits` has one row per restricted dimension: factor, low, high (numeric factors), values
    (the categories kept, for a categorical one), and the quasi-p value of the restriction.
    """
    prim = ema_analysis().prim

    found = prim.Prim(x.reset_index(drop=True), np.asarray(y, dtype=bool)).find_box()
    trajectory = found.peeling_trajectory[["coverage", "density", "mass", "res_dim", "n", "k"]]
    eligible = trajectory[trajectory["coverage"] >= min_coverage - 1e-12]
    chosen = int(eligible.sort_values(["density", "coverage"], ascending=False).index[0])
    # The box's limits and quasi-p values read directly: `PrimBox.inspect(style="data")` fails
    # on a categorical dimension under pandas 3 (EMA Workbench 3.0.0).
    lims, p_values = found.box_lims[chosen], found.p_values[chosen]
    rows = []
    for column, (qp_low, qp_high) in p_values.items():  # a quasi-p of -1: that side is open
        low, high = lims[column].iloc[0], lims[column].iloc[1]
        categorical = isinstance(low, set | frozenset)
        rows.append(
            {
                "factor": column,
                "low": np.nan if categorical else float(low),
                "high": np.nan if categorical else float(high),
                "values": sorted(map(str, low)) if categorical else [],
                "qp": min((float(q) for q in (qp_low, qp_high) if q >= 0), default=np.nan),
            }
        )
    return {
        "trajectory": trajectory.reset_index(drop=True),
        "chosen": chosen,
        "stats": trajectory.loc[chosen].to_dict(),
        "limits": pd.DataFrame(rows, columns=["factor", "low", "high", "values", "qp"]),
    }


def cases_of_interest(relative: np.ndarray, threshold: float) -> tuple[np.ndarray, float, bool]:
    """Which runs count as collapsed: relative value below `threshold`, unless that is (almost)
    none or all of them; then the worst `WORST` share of runs (at or below that quantile).

    Returns the boolean cases, the cut used and whether it is the fallback quantile.
    """
    below = relative < threshold
    if MIN_SHARE <= below.mean() <= 1 - MIN_SHARE:
        return below, threshold, False
    cut = float(np.quantile(relative, WORST))
    return relative <= cut, cut, True


def condition(
    x: pd.DataFrame,
    relative: pd.Series,
    metric: registry.Metric,
    threshold: float,
    folder: Path,
    name: str,
) -> dict[str, Any]:
    """Scenario discovery for 'metric ends below threshold × its pre-AI value' (or, where no run
    or nearly every run does, for the worst quarter of runs)."""
    known = relative.notna().to_numpy()
    values = relative.to_numpy()[known]
    y, cut, fallback = cases_of_interest(values, threshold)
    text = f"{metric.label} ends at or below {cut:.3g} × its pre-AI value"
    note = (
        f"the worst {WORST:.0%} of runs: {below_share(values, threshold)} ended below the "
        f"threshold {threshold:g}×"
        if fallback
        else f"the threshold {threshold:g}×"
    )
    entry: dict[str, Any] = {
        "label": text,
        "note": note,
        "metric": metric.title,
        "cases": int(y.sum()),
        "runs": int(y.size),
        "reason": "",
        "figure": None,
        "box": None,
    }
    if y.all():
        entry["label"] = metric.label
        entry["reason"] = (
            f"it does not vary in this ensemble (every run ends at {cut:.3g} × its pre-AI "
            "value), so there are no conditions to tell apart"
        )
        return entry
    box = prim_box(x[known], y)
    ranges = {c: (x[c].min(), x[c].max()) for c in x.columns if c != ARM}
    arms = ", ".join(dict.fromkeys(x[ARM].astype(str)))
    entry["box"] = {
        "stats": box["stats"],
        "chosen": box["chosen"],
        "limits": [
            {
                "factor": factor_label(row["factor"]),
                "condition": limit_text(row, ranges.get(row["factor"])),
                "range": limit_text(row, None, ranges.get(row["factor"]))
                if row["factor"] != ARM
                else arms,
                "qp": row["qp"],
                "chance": not row["qp"] <= SIGNIFICANT,
            }
            for row in box["limits"].to_dict("records")
        ],
    }
    fig = plots.tradeoff_figure(box["trajectory"], box["chosen"], text, MIN_COVERAGE)
    caption = (
        f"PRIM peeling trajectory for “{text}”: each point is a box; coverage = share of the "
        f"{int(y.sum())} such runs inside it, density = share of its runs that are such runs; "
        "colour = number of restricted dimensions; ringed: the chosen box."
    )
    entry["figure"] = render.save_figure(fig, folder, name, caption)
    return entry


def limit_text(
    row: dict[str, Any], bounds: tuple[float, float] | None, full: tuple[float, float] | None = None
) -> str:
    """A numeric box limit as an analyst reads it: '≥ 0.41', '≤ 0.3' or '0.41 – 0.6' (the
    categories kept, for a categorical one); with `full`, the factor's sampled range instead."""
    if row["values"]:
        return ", ".join(row["values"])
    if full is not None:
        return f"{render.number(full[0])} – {render.number(full[1])}"
    low, high = row["low"], row["high"]
    lower, upper = bool(bounds is None or low > bounds[0]), bool(bounds is None or high < bounds[1])
    if lower and not upper:
        return f"≥ {render.number(low)}"
    if upper and not lower:
        return f"≤ {render.number(high)}"
    return f"{render.number(low)} – {render.number(high)}"


def below_share(values: np.ndarray, threshold: float) -> str:
    """'none', 'all' or 'k of n' runs with a value below `threshold`."""
    k = int((values < threshold).sum())
    return "none" if k == 0 else ("all" if k == values.size else f"{k} of {values.size}")


def feature_scores(x: pd.DataFrame, y: pd.Series, seed: int) -> pd.Series:
    """Extra-trees feature scores (EMA Workbench, regression) of the columns of `x` for `y`;
    rows with a missing `y` are left out. Scores sum to 1; NaN where `y` does not vary."""
    analysis = ema_analysis()
    feature_scoring = analysis.feature_scoring
    RuleInductionType = analysis.scenario_discovery_util.RuleInductionType  # noqa: N806

    known = y.notna().to_numpy()
    if y[known].nunique() < 2:  # nothing to explain: no score, rather than a forest of zeros
        return pd.Series(np.nan, index=x.columns)
    scores, _ = feature_scoring.get_ex_feature_scores(
        x[known].reset_index(drop=True),
        y.to_numpy()[known],
        mode=RuleInductionType.REGRESSION,
        nr_trees=TREES,
        random_state=seed,
    )
    return scores[1]


def varying(
    table: pd.DataFrame, metrics: tuple[registry.Metric, ...]
) -> tuple[registry.Metric, ...]:
    """The metrics whose final value differs between runs (a flat envelope says nothing)."""
    return tuple(m for m in metrics if table[m.final].nunique() > 1)
