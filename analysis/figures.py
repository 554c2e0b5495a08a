"""The report's figures: the heatmaps of the answer, fan charts, rank-frequency, tipping points
and the sensitivity ranking. Each returns the embedded figure(s) and what the templates show
with them; labels and units come from the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import findings, plots, render, sections, stats
from analysis.load import DESIGN_COLUMNS, Results
from analysis.render import EmbeddedFigure
from analysis.sections import AI_SHARE_KEY
from simulation import dotted, registry, runner

MAX_PANELS = 3
SENSITIVITY_LABELS = {
    "mu_star": "Morris μ* (mean absolute elementary effect)",
    "ST": "Sobol total-order index",
}


def factor_label(key: str) -> str:
    """A readable name for a swept scenario key (the AI share's from the registry)."""
    return registry.AI_SHARE.label if key == AI_SHARE_KEY else f"{dotted.parts(key)[-1]}"


def heatmap_figure(answer: dict[str, Any], threshold: float, folder: Path) -> EmbeddedFigure:
    """One heatmap per key outcome: median ratio to the reference, policy × AI share."""
    relative = answer["relative"]
    panels = {
        m.label: relative[relative["outcome"] == m.name].pivot_table(
            index="arm", columns="x", values="median", sort=False, dropna=False
        )
        for m in sections.key_metrics()
    }
    scale = f"final value as % of {findings.SHORT_REFERENCE[answer['reference']]}"
    fig = plots.heatmaps(panels, threshold, registry.AI_SHARE.title, scale)
    caption = (
        f"Final value as a share of {answer['reference_text']}: median over "
        f"replications. Bold: below the {findings.pct(threshold)} threshold."
    )
    return render.save_figure(fig, folder, "heatmap", caption)


def panel_levels(res: Results) -> tuple[str | None, list[Any]]:
    """The first grid factor and up to three of its levels (lowest, middle, highest)."""
    design = (res.scenario.get("sweep") or {}).get("design")
    if not res.factors or design != "grid":
        return None, []
    key = res.factors[0]
    levels = list(dict.fromkeys(res.runs[key]))
    picks = sorted({0, len(levels) // 2, len(levels) - 1})[:MAX_PANELS]
    return key, [levels[i] for i in picks]


def fan_figures(res: Results, folder: Path) -> list[EmbeddedFigure]:
    """One fan chart per metric of the `fan` view; panels are levels of the first grid factor."""
    frame = res.metrics.merge(res.runs, on=["run_id", "replication"])
    key, levels = panel_levels(res)
    figures = []
    for metric in registry.shown_in("fan"):
        column = metric.name
        if key is None:
            panels = {"all runs": stats.fan(frame, "arm", "step", column)}
        else:
            panels = {
                f"{factor_label(key)} {level:g}": stats.fan(
                    frame[frame[key] == level], "arm", "step", column
                )
                for level in levels
            }
        fig = plots.fan_chart(panels, metric.title, "step (month since the start date)")
        fig.suptitle(metric.label, y=1.03, fontsize=11)
        caption = f"{metric.title} over time by policy: median and band across runs" + (
            f", at three levels of {factor_label(key)}." if key else "."
        )
        figures.append(render.save_figure(fig, folder, f"fan_{column}", caption))
    return figures


def rank_figure(res: Results, folder: Path) -> EmbeddedFigure | None:
    """Rank-frequency of reality, corpus and models: one start panel (the start is the same in
    every arm, which share their random numbers) and one end panel per policy arm."""
    if res.distributions is None:
        return None
    dists = res.distributions.merge(res.runs, on=["run_id", "replication"])
    key, levels = panel_levels(res)
    if key is not None:
        dists = dists[dists[key] == levels[-1]]
    dists = dists.sort_values(["run_id", "step", "source", "share"], ascending=[1, 1, 1, 0])
    dists["rank"] = dists.groupby(["run_id", "step", "source"]).cumcount()
    median = dists.groupby(["arm", "step", "source", "rank"], sort=False)["share"].median()
    first, last = dists["step"].min(), dists["step"].max()

    def curves(arm: str, step: int) -> dict[str, np.ndarray]:
        return {
            source: median.loc[(arm, step, source)].to_numpy()
            for source in plots.SOURCE_STYLE
            if (arm, step, source) in median.index
        }

    panels = {f"start (step {first}), every policy": curves(res.arms[0], first)}
    single = res.kind == "run"
    panels |= {
        (f"end (step {last})" if single else f"{arm}: end (step {last})"): curves(arm, last)
        for arm in res.arms
    }
    at = f" at {factor_label(key)} {levels[-1]:g}" if key else ""
    caption = (
        f"Topic rank-frequency (log-log) of reality, the web corpus and the models{at}: median "
        "share at each rank across replications. Tail loss shows as curves that drop away from "
        "reality at high ranks."
    )
    return render.save_figure(plots.rank_frequency(panels), folder, "rank_frequency", caption)


def tipping_section(res: Results, answer: dict[str, Any], threshold: float, folder: Path):
    """Tipping points in AI share per policy and key metric, with their figure; None without an
    AI-share axis (the section is then left out)."""
    axis = sections.share_axis(res)
    if axis is None:
        return None
    rel = sections.relative_runs(res, answer["reference"])
    unit = rel[[*(f for f in res.factors if f != axis), "replication"]].astype(str)
    rows, panels, crossings = [], {}, {}
    for metric in sections.key_metrics():
        part = pd.DataFrame(
            {
                "group": rel["arm"],
                "unit": unit.agg("|".join, axis=1),
                "x": rel["x"],
                "y": rel[f"rel_{metric.name}"],
            }
        ).dropna(subset=["y"])
        found = stats.tipping_points(part, threshold)
        crossings[metric.label] = {t.group: t.estimate for t in found if t.estimate > t.start}
        panels[metric.label] = stats.fan(part, "group", "x", "y")
        rows += [{"metric": metric.label, "tip": t} for t in found]
    short = findings.SHORT_REFERENCE[answer["reference"]]
    fig = plots.tipping_curves(
        panels, threshold, crossings, f"final value ÷ {short}", registry.AI_SHARE.title
    )
    caption = (
        f"Key outcomes as a share of {answer['reference_text']}, against AI share; dashed: the "
        f"threshold {findings.pct(threshold)}; dotted: each policy's tipping point."
    )
    return {"rows": rows, "figure": render.save_figure(fig, folder, "tipping", caption)}


def sensitivity_section(res: Results, folder: Path) -> dict[str, Any]:
    """SALib ranking per arm and key outcome of a sweep, or a statement of why there is none."""
    from simulation.designs import salib_problem
    from simulation.scenario import Sweep

    spec = Sweep.model_validate(res.scenario["sweep"])
    design = pd.read_csv(res.folder / "design.csv")
    points = design.drop_duplicates("design_point").sort_values("design_point")[res.factors]
    results, figures = [], []
    for arm in res.arms:
        mine = res.summary[res.summary["arm"] == arm]
        for metric in sections.key_metrics():
            outcome = metric.final
            means = mine.groupby("design_point")[outcome].mean()
            values = means.reindex(range(len(points))).to_numpy(dtype=float)
            found = stats.sensitivity(spec.design, salib_problem(spec), points, values, outcome)
            if found.table is None:
                return {"results": [], "figures": [], "reason": found.reason}
            results.append({"arm": arm, "label": metric.title, "s": found})
            value, error = (
                ("mu_star", "mu_star_conf") if found.method == "morris" else ("ST", "ST_conf")
            )
            label = SENSITIVITY_LABELS[value]
            fig = plots.sensitivity_bars(found.table, value, error, f"{arm}: {metric.title}", label)
            caption = f"{label} (±95% CI) for {metric.title}, policy {arm}."
            figures.append(render.save_figure(fig, folder, f"sensitivity_{arm}_{outcome}", caption))
    return {"results": results, "figures": figures, "reason": ""}


def envelope_figure(
    res: Results, metrics: tuple[registry.Metric, ...], folder: Path
) -> EmbeddedFigure:
    """Each metric over time per arm: median, 5–95% band and min–max envelope of all runs."""
    frame = res.metrics
    if runner.TWIN in frame.columns:
        frame = frame[frame[runner.TWIN] == runner.FULL]
    frame = frame.merge(res.runs[list(DESIGN_COLUMNS)], on=["run_id", "replication"])
    bands = {
        m.title: frame.groupby(["arm", "step"], sort=False)[m.name]
        .quantile([0.0, stats.LOW, 0.5, stats.HIGH, 1.0])
        .unstack()
        for m in metrics
    }
    fig = plots.envelopes(bands, res.arms, (stats.LOW, stats.HIGH))
    caption = (
        "Envelopes over time per policy across the whole ensemble (the report's trajectory "
        "metrics that vary here): line = median, dark band = 5–95% of runs, light band = "
        "min–max over every sampled condition."
    )
    return render.save_figure(fig, folder, "envelopes", caption)
