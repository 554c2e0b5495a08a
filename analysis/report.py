"""The policy report of a run or sweep folder: report.html (self-contained), report.md, figures/.

The answer comes first: findings (sentences from `analysis.sections` and `analysis.findings`),
warnings and how to read the numbers, then for a sweep a heatmap per key outcome (policy × AI
share, relative to a drift-free reference) and the paired differences against the no-policy
arm. The details follow: pre-AI values, final values, the change caused by AI (with twins), fan
charts, rank-frequency, tipping points and sensitivity (sweeps), and an appendix with the
settings, seeds and versions. A single run's report asks a single run's questions (what
happened over time, what AI changed against its twins): no policy table, no tipping section.
Labels and units come from the registry; `build_context` has one key per section, so a new
section is one more key and one more template block.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import discovery, findings, render, sections, stats
from analysis.calibration import status as calibration
from analysis.figures import (
    factor_label,
    fan_figures,
    heatmap_figure,
    rank_figure,
    sensitivity_section,
    tipping_section,
)
from analysis.load import DESIGN_COLUMNS, Results, load_results
from analysis.sections import AI_SHARE_KEY
from simulation import dotted, registry, runner

SENSITIVITY_COLUMNS = {
    "factor": "setting",
    "mu_star": "μ*",
    "mu_star_conf": "μ* ± (95%)",
    "sigma": "σ",
    "S1": "first-order index",
    "S1_conf": "first-order ± (95%)",
    "ST": "total-order index",
    "ST_conf": "total-order ± (95%)",
}


def tip(value: float, start: float) -> str:
    """A tipping AI share for tables: 'not reached', '≤ start' (already below) or the number."""
    if not np.isfinite(value):
        return "not reached"
    return f"≤ {start:g} (already)" if value <= start else render.number(value)


def paired_rows(answer: dict[str, Any]) -> dict[str, Any]:
    """Rows (policy, AI share) × key outcome of mean paired differences against no policy."""
    paired = answer["paired"]
    if paired.empty:
        return {"outcomes": [], "rows": []}
    metrics = sections.key_metrics()
    wide = paired.pivot_table(
        index=["arm", "x"],
        columns="outcome",
        values=["mean", "low", "high", "n"],
        sort=False,
        dropna=False,
    )
    rows = [
        {
            "arm": arm,
            "x": "" if np.isnan(x) else f"{x:g}",
            "cells": [{k: row[(k, m.name)] for k in ("mean", "low", "high")} for m in metrics],
            "n": int(row[("n", metrics[0].name)]),
        }
        for (arm, x), row in wide.iterrows()
    ]
    return {"outcomes": [m.title for m in metrics], "rows": rows}


def outcome_tables(res: Results) -> list[dict[str, Any]]:
    """Per outcome metric: final values, median and interval, rows policies × AI-share columns
    (one column without an AI-share axis)."""
    frame = sections.with_axis(res)
    metrics = registry.shown_in("outcome")
    long = stats.intervals(frame, ["arm", "x"], [m.final for m in metrics])
    tables = []
    for m in metrics:
        mine = long[long["outcome"] == m.final]
        columns = list(pd.unique(mine["x"]))  # one NaN column without an AI-share axis
        rows = [
            {"arm": arm, "cells": block.set_index("x").reindex(columns).to_dict("records")}
            for arm, block in mine.groupby("arm", sort=False)
        ]
        heads = ["final value" if np.isnan(c) else f"{c:g}" for c in columns]
        tables.append({"title": m.title, "columns": heads, "rows": rows})
    return tables


def pre_ai_rows(res: Results) -> list[dict[str, Any]]:
    """Step-0 values of the outcome metrics (labelled), with their final values for a run."""
    pre = sections.pre_ai_values(res).set_index("outcome")
    final = stats.intervals(
        res.summary.copy().assign(all=0), ["all"], [m.final for m in registry.shown_in("outcome")]
    ).set_index("outcome")
    return [
        {"title": m.title, "pre": pre.loc[m.name].to_dict(), "final": final.loc[m.final].to_dict()}
        for m in registry.shown_in("outcome")
    ]


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


def row_label(arm: str, x: float) -> str:
    """'none, AI share 0.95' (or just the arm without an AI-share axis)."""
    return arm if np.isnan(x) else f"{arm}, {registry.AI_SHARE.label} {x:g}"


def decomposition_section(res: Results) -> dict[str, Any]:
    """The change caused by AI in each summarised metric, split into dilution and feedback, per
    policy and AI share; or why there is none (runs without twins)."""
    if not runner.has_twins(res.summary):
        reason = (
            "these runs have no counterfactual twins; rerun with `--twins` (or "
            "`counterfactuals: true`) to measure the change caused by AI"
        )
        return {"rows": [], "reason": reason}
    # Every key or outcome metric the folder has (one added since it was written is left out).
    shown = dict.fromkeys([*sections.key_metrics(), *registry.shown_in("outcome")])
    outcomes = tuple(m for m in shown if f"ai_effect_{m.final}" in res.summary)
    frame = sections.with_axis(res)
    by = ["arm", "x"] if sections.share_axis(res) else ["arm"]  # groupby drops NaN keys
    table = runner.decomposition(frame, by, outcomes)
    rows = [
        {
            "label": row_label(row["arm"], row.get("x", np.nan)),
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
        (
            "Start date (step 0), steps × replications",
            f"{get('start_date')}, {get('steps')} × {get('replications')}",
        ),
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


def discovery_of(res: Results, threshold: float, folder: Path) -> dict[str, Any] | None:
    """Scenario discovery and robustness of a sweep over sampled conditions (LHS, Sobol,
    Morris); None for a grid, whose report answers by its factor levels instead."""
    found = discovery.discovery_section(res, folder, threshold)
    return None if found["reason"] else found


def build_context(res: Results, threshold: float, folder: Path) -> dict[str, Any]:
    """Everything the templates render: one key per section (a section left out is None)."""
    decomposition = decomposition_section(res)
    res = full_runs(res)
    answer = sections.answer(res, threshold)
    sweep = res.kind == "sweep"
    found = discovery_of(res, threshold, folder) if sweep else None
    if found:  # a sampled sweep's answer includes its robustness and discovery (6 at most)
        extra = findings.discovery_sentences(found)
        answer["findings"] = answer["findings"][: findings.MAX_FINDINGS - len(extra)] + extra
    axis = sections.share_axis(res) if sweep else None
    return {
        "res": res,
        "title": f"{'Policy' if sweep else 'Run'} report: {res.scenario['name']}",
        "question": findings.question(sweep, answer["reference"] == "twins"),
        "description": res.scenario.get("description", ""),
        "answer": answer,
        "heatmap": heatmap_figure(answer, threshold, folder) if axis else None,
        "paired": paired_rows(answer) if sweep else None,
        "pre_ai": pre_ai_rows(res),
        "outcomes": outcome_tables(res) if sweep else None,
        "decomposition": decomposition,
        "fans": fan_figures(res, folder),
        "rank": rank_figure(res, folder),
        "tipping": tipping_section(res, answer, threshold, folder) if sweep else None,
        "sensitivity": sensitivity_section(res, folder) if sweep else None,
        "discovery": found,
        "calibration": calibration.report_section(res),
        "facts": scenario_facts(res),
        "design": design_facts(res),
        "factor_label": factor_label,
        "threshold": threshold,
        "prose": findings.PROSE,
        "assumptions": findings.assumptions(res.manifest.get("root_seed")),
        "sensitivity_columns": SENSITIVITY_COLUMNS,
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
