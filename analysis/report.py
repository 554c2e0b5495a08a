"""The policy report of a run or sweep folder: report.html (self-contained), report.md, figures/.

Content follows DESIGN §9: question and scenario, a policies × outcomes table with intervals and
risk probabilities, the change caused by AI split into dilution and feedback when the runs carry
counterfactual twins, fan charts by policy, rank-frequency plots, tipping points in AI share, a
sensitivity ranking when the design allows one, and an appendix with seeds and versions.
Which metrics appear where comes from the registry's views (`outcome`, `fan`, `risk`), read
when a report is written; figures and pages go through `analysis.render`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import plots, render, stats
from analysis.calibration import status as calibration
from analysis.load import DESIGN_COLUMNS, Results, load_results
from analysis.render import EmbeddedFigure
from simulation import dotted, registry, runner

AI_SHARE_KEY = "web.ai_share"  # the scenario key; registry.AI_SHARE is the metric column
MAX_PANELS = 3
MAX_RANK_ROWS = 6


def tip(value: float, start: float) -> str:
    """A tipping AI share for tables: 'not reached', '≤ start' (already below) or the number."""
    if not np.isfinite(value):
        return "not reached"
    return f"≤ {start:g} (already)" if value <= start else render.number(value)


def group_columns(res: Results) -> list[str]:
    """What a table row is: the policy arm, plus the factor values of a grid design."""
    design = (res.scenario.get("sweep") or {}).get("design")
    return ["arm", *res.factors] if design == "grid" else ["arm"]


def group_label(key: tuple[Any, ...], columns: list[str]) -> str:
    """'arm, factor=value, …' with factors named by their last key part."""
    pairs = zip(columns[1:], key[1:], strict=True)
    parts = [str(key[0])] + [f"{dotted.parts(c)[-1]}={v}" for c, v in pairs]
    return ", ".join(parts)


def with_relative(res: Results) -> pd.DataFrame:
    """The summary plus each risk metric's final value relative to its run's pre-AI value."""
    risks = [m.name for m in registry.shown_in("risk")]
    rel = stats.relative_to_start(res.metrics, risks)
    last = rel.sort_values("step").groupby("run_id")[risks].last()
    return res.summary.join(last.add_prefix("rel_"), on="run_id")


def policy_table(res: Results, threshold: float) -> dict[str, Any]:
    """Rows of the policies × outcomes table (median [5%, 95%]) and risk probabilities."""
    outcomes, risk_metrics = registry.shown_in("outcome"), registry.shown_in("risk")
    summary = with_relative(res)
    by = group_columns(res)
    long = stats.intervals(summary, by, [m.final for m in outcomes])
    risks = [stats.share_below(summary, by, f"rel_{m.name}", threshold) for m in risk_metrics]
    rows = []
    for key, block in long.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = {
            r.outcome: {"median": r.median, "low": r.low, "high": r.high}
            for r in block.itertuples()
        }
        rows.append(
            {
                "label": group_label(key, by),
                "n": int(block["n"].max()),
                "cells": [cells[m.final] for m in outcomes],
                "risks": [float(risk.loc[key if len(key) > 1 else key[0]]) for risk in risks],
            }
        )
    return {
        "outcomes": [m.title for m in outcomes],
        "risks": [m.label for m in risk_metrics],
        "rows": rows,
    }


def full_runs(res: Results) -> Results:
    """`res` without its counterfactual twins' metric and distribution rows (if it has any).

    Every section but the decomposition describes the runs as simulated; the twins' own
    values are in the summary's prefixed columns.
    """
    tables = {"metrics": res.metrics, "distributions": res.distributions}
    kept = {
        name: frame[frame[runner.TWIN] == runner.FULL].drop(columns=runner.TWIN)
        for name, frame in tables.items()
        if frame is not None and runner.TWIN in frame.columns
    }
    return dataclasses.replace(res, **kept) if kept else res


def decomposition_section(res: Results) -> dict[str, Any]:
    """The change caused by AI in each summarised metric, split into dilution and feedback, per
    row of the policies table; or why there is none (runs without twins)."""
    if not runner.has_twins(res.summary):
        reason = (
            "these runs have no counterfactual twins; rerun with `counterfactuals: true` "
            "(or `--twins`) to measure the change caused by AI"
        )
        return {"rows": [], "reason": reason}
    # Every summarised metric the folder has (one added since it was written is left out).
    outcomes = tuple(m for m in registry.SUMMARISED if f"ai_effect_{m.final}" in res.summary)
    by = group_columns(res)
    table = runner.decomposition(res.summary, by, outcomes)
    rows = [
        {
            "label": group_label(tuple(row[c] for c in by), by),
            "outcome": registry.BY_NAME[row["outcome"]].title,
            "full": row["full"],
            "no_ai": row["no_ai"],
            "effects": [
                {"mean": row[e], "low": row[f"{e}_low"], "high": row[f"{e}_high"]}
                for e in runner.EFFECTS
            ],
            "n": int(row["n"]),
        }
        for row in table.to_dict("records")
    ]
    return {"rows": rows, "reason": ""}


def panel_levels(res: Results) -> tuple[str | None, list[Any]]:
    """The first grid factor and up to three of its levels (lowest, middle, highest)."""
    if not res.factors or group_columns(res) == ["arm"]:
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
                f"{key} = {level}": stats.fan(frame[frame[key] == level], "arm", "step", column)
                for level in levels
            }
        fig = plots.fan_chart(panels, metric.unit or metric.label, "step (publishing round)")
        fig.suptitle(metric.title, y=1.03, fontsize=11)
        caption = f"{metric.title} over time by policy: median and 5–95% band across runs" + (
            f", at three levels of {key}." if key else "."
        )
        figures.append(render.save_figure(fig, folder, f"fan_{column}", caption))
    return figures


def rank_figure(res: Results, folder: Path) -> EmbeddedFigure | None:
    """Rank-frequency of reality, corpus and models at the start and end, per policy arm."""
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
    curves: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for arm in res.arms[:MAX_RANK_ROWS]:
        curves[arm] = {
            f"{label} (step {step})": {
                source: median.loc[(arm, step, source)].to_numpy()
                for source in plots.SOURCE_STYLE
                if (arm, step, source) in median.index
            }
            for label, step in (("start", first), ("end", last))
        }
    where = f" at {key} = {levels[-1]}" if key else ""
    caption = (
        f"Topic rank-frequency (log-log) of reality, the web corpus and the models{where}: "
        "median share at each rank across replications. Tail loss shows as curves that drop "
        "away from reality at high ranks."
    )
    return render.save_figure(plots.rank_frequency(curves), folder, "rank_frequency", caption)


def tipping_curves(res: Results) -> tuple[pd.DataFrame | None, str]:
    """Long curves (metric, group, unit, x = AI share, y = relative metric) and their source."""
    risks = [m.name for m in registry.shown_in("risk")]
    share = registry.AI_SHARE.name
    if AI_SHARE_KEY in res.factors and group_columns(res) != ["arm"]:
        summary = with_relative(res)
        others = [c for c in res.factors if c != AI_SHARE_KEY]
        unit = summary[[*others, "replication"]].astype(str).agg("|".join, axis=1)
        frames = [
            pd.DataFrame(
                {
                    "metric": m,
                    "group": summary["arm"],
                    "unit": unit,
                    "x": summary[AI_SHARE_KEY].astype(float),
                    "y": summary[f"rel_{m}"],
                }
            )
            for m in risks
        ]
        return pd.concat(frames), "final values of runs across the AI-share grid"
    if res.metrics.groupby("run_id")[share].nunique().max() > 1:
        rel = stats.relative_to_start(res.metrics, risks).merge(res.runs)
        frames = [
            pd.DataFrame(
                {
                    "metric": m,
                    "group": rel["arm"],
                    "unit": rel["run_id"],
                    "x": rel[share],
                    "y": rel[m],
                }
            )
            for m in risks
        ]
        return pd.concat(frames), "each run's trajectory as its AI-share schedule rises"
    return None, (
        "the AI share is constant here (not a grid factor and not a rising schedule), so there "
        "is no AI-share axis on which to locate a tipping point"
    )


def tipping_section(res: Results, threshold: float, folder: Path) -> dict[str, Any]:
    """Tipping points per policy and metric, with their figure or the reason there are none."""
    curves, source = tipping_curves(res)
    if curves is None:
        return {"rows": [], "reason": source, "figure": None, "source": ""}
    rows, panels, crossings = [], {}, {}
    for metric in registry.shown_in("risk"):
        part = curves[curves["metric"] == metric.name].dropna(subset=["y"])
        found = stats.tipping_points(part, threshold)
        crossings[metric.label] = {t.group: t.estimate for t in found if t.estimate > t.start}
        panels[metric.label] = stats.fan(part, "group", "x", "y")
        rows += [{"metric": metric.label, "tip": t} for t in found]
    fig = plots.tipping_curves(panels, threshold, crossings)
    caption = (
        f"Risk metrics relative to their pre-AI value against AI share ({source}); dashed: the "
        f"threshold {threshold:g}; dotted: each policy's tipping point."
    )
    figure = render.save_figure(fig, folder, "tipping", caption)
    return {"rows": rows, "reason": "", "figure": figure, "source": source}


def sensitivity_section(res: Results, folder: Path) -> dict[str, Any]:
    """SALib ranking per arm and risk outcome, or a statement of why there is none."""
    from simulation.designs import salib_problem
    from simulation.scenario import Sweep

    sweep = res.scenario.get("sweep")
    if sweep is None:
        reason = "this is a single scenario run, not a sweep: there is no design to rank factors."
        return {"results": [], "figures": [], "reason": reason}
    spec = Sweep.model_validate(sweep)
    design = pd.read_csv(res.folder / "design.csv")
    points = design.drop_duplicates("design_point").sort_values("design_point")[res.factors]
    results, figures = [], []
    for arm in res.arms:
        mine = res.summary[res.summary["arm"] == arm]
        for metric in registry.shown_in("risk"):
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
            fig = plots.sensitivity_bars(found.table, value, error, f"{arm}: {metric.title}")
            caption = f"{found.method} {value} (±95% CI) for {metric.title}, policy {arm}."
            figures.append(render.save_figure(fig, folder, f"sensitivity_{arm}_{outcome}", caption))
    return {"results": results, "figures": figures, "reason": ""}


def scenario_facts(res: Results) -> list[tuple[str, str]]:
    """The scenario's key settings as (label, value) pairs for the summary table."""

    def get(key: str) -> Any:
        return dotted.get(res.scenario, key)

    share = get(AI_SHARE_KEY)
    if isinstance(share, dict) and "points" in share:
        share = ", ".join(f"{time}: {value}" for time, value in share["points"].items())
    elif isinstance(share, dict):
        share = f"{share['start']} → {share['end']} ({share['shape']})"
    if AI_SHARE_KEY in res.factors:
        share = "swept: see the factor below"
    detector = get("filtering.detector")
    return [
        ("Steps × replications", f"{get('steps')} × {get('replications')}"),
        ("AI share of new documents", str(share)),
        ("Topics / words", f"{get('content.n_topics')} / {get('content.n_words')}"),
        ("Humans / sites", f"{get('humans.count')} / {get('web.n_sites')}"),
        (
            "Models, regime, retrain every",
            f"{get('models.count')}, {get('models.regime')}, {get('models.retrain_every')} steps",
        ),
        ("Generation (temperature, top_p)", f"{get('models.temperature')}, {get('models.top_p')}"),
        ("Detector (tpr, fpr)", f"{detector['tpr']}, {detector['fpr']}" if detector else "none"),
        (
            "Provenance labels",
            f"rate {get('filtering.provenance.label_rate')}, "
            f"honoured: {get('filtering.provenance.honored')}",
        ),
        (
            "Human reserve / tail protection",
            f"{get('filtering.human_reserve')} / {get('filtering.protect_tail')}",
        ),
    ]


def design_facts(res: Results) -> dict[str, Any]:
    """How the sweep was laid out and how much of it finished."""
    sweep = res.scenario.get("sweep") or {}
    status = res.status
    failed = [] if status is None else status[status["state"] == "failed"]
    sessions = res.manifest.get("sessions", [])
    return {
        "design": sweep.get("design"),
        "samples": sweep.get("samples"),
        "factors": sweep.get("factors", {}),
        "arms": sweep.get("arms", {}),
        "runs": len(status) if status is not None else len(res.runs),
        "done": len(res.runs),
        "failed": [] if status is None else failed[["run_id", "error"]].to_dict("records"),
        "wall_seconds": sum(s.get("wall_seconds", 0) for s in sessions)
        or res.manifest.get("wall_seconds"),
        "sessions": sessions,
    }


def build_context(res: Results, threshold: float, folder: Path) -> dict[str, Any]:
    """Everything the templates render."""
    decomposition = decomposition_section(res)
    res = full_runs(res)
    rank = rank_figure(res, folder)
    return {
        "res": res,
        "title": f"Policy report: {res.scenario['name']}",
        "description": res.scenario.get("description", ""),
        "facts": scenario_facts(res),
        "design": design_facts(res),
        "threshold": threshold,
        "table": policy_table(res, threshold),
        "decomposition": decomposition,
        "fans": fan_figures(res, folder),
        "rank": rank,
        "tipping": tipping_section(res, threshold, folder),
        "sensitivity": sensitivity_section(res, folder),
        "calibration": calibration.report_section(res),
        "manifest": res.manifest,
        "manifest_json": json.dumps(
            {k: v for k, v in res.manifest.items() if k != "spawn_keys"}, indent=2, default=str
        ),
        "design_columns": DESIGN_COLUMNS,
        "tip": tip,
    }


def write_report(
    folder: str | Path, formats: tuple[str, ...] = ("html", "md"), threshold: float = 0.8
) -> list[Path]:
    """Render the report of `folder` into it; returns the written report files."""
    folder = Path(folder)
    res = load_results(folder)
    context = build_context(res, threshold, folder)
    return [
        render.render(f"report.{name}.j2", folder / f"report.{name}", **context) for name in formats
    ]
