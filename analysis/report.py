"""The policy report of a run or sweep folder: report.html (self-contained), report.md, figures/.

Content follows DESIGN §9: question and scenario, a policies × outcomes table with intervals and
risk probabilities, fan charts by policy, rank-frequency plots, tipping points in AI share, a
sensitivity ranking when the design allows one, and an appendix with seeds and versions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from analysis import plots, stats
from analysis.load import DESIGN_COLUMNS, Results, load_results
from simulation.files import atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
OUTCOMES = {
    "final_topic_hill1": "Topic diversity (Hill-1)",
    "final_tail_survival": "Tail survival",
    "final_topic_richness": "Topics present",
    "final_js_divergence": "JS divergence to reality",
    "final_model_cross_entropy": "Model cross-entropy (nats/word)",
    "final_synthetic_share": "Synthetic share of corpus",
    "final_train_synthetic_share": "Synthetic share of training data",
}
FAN_METRICS = {
    "topic_hill1": "Topic diversity (Hill-1, effective topics)",
    "tail_survival": "Tail survival (share of tail topics models keep)",
    "js_divergence": "JS divergence of the corpus from reality",
    "synthetic_share": "Synthetic share of the corpus",
}
RISK_METRICS = {"topic_hill1": "topic diversity (Hill-1)", "tail_survival": "tail survival"}
MAX_PANELS = 3
MAX_RANK_ROWS = 6


@dataclass
class Figure:
    """One figure of the report: its file, caption and (for HTML) base64 PNG."""

    name: str
    caption: str
    b64: str = field(repr=False)

    @property
    def file(self) -> str:
        return f"figures/{self.name}.png"


def fmt(value: float) -> str:
    """Numbers as analysts read them: 3 significant digits, '—' for missing."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.3g}"


def tip(value: float, start: float) -> str:
    """A tipping AI share for tables: 'not reached', '≤ start' (already below) or the number."""
    if not np.isfinite(value):
        return "not reached"
    return f"≤ {start:g} (already)" if value <= start else fmt(value)


def group_columns(res: Results) -> list[str]:
    """What a table row is: the policy arm, plus the factor values of a grid design."""
    design = (res.scenario.get("sweep") or {}).get("design")
    return ["arm", *res.factors] if design == "grid" else ["arm"]


def group_label(key: tuple[Any, ...], columns: list[str]) -> str:
    """'arm, factor=value, …' with factors named by their last key part."""
    pairs = zip(columns[1:], key[1:], strict=True)
    parts = [str(key[0])] + [f"{c.split('.')[-1]}={v}" for c, v in pairs]
    return ", ".join(parts)


def with_relative(res: Results) -> pd.DataFrame:
    """The summary plus each risk metric's final value relative to its run's pre-AI value."""
    rel = stats.relative_to_start(res.metrics, list(RISK_METRICS))
    final = rel.sort_values("step").groupby("run_id")[list(RISK_METRICS)].last()
    return res.summary.join(final.add_prefix("rel_"), on="run_id")


def policy_table(res: Results, threshold: float) -> dict[str, Any]:
    """Rows of the policies × outcomes table (median [5%, 95%]) and risk probabilities."""
    summary = with_relative(res)
    by = group_columns(res)
    long = stats.intervals(summary, by, list(OUTCOMES))
    risks = {m: stats.share_below(summary, by, f"rel_{m}", threshold) for m in RISK_METRICS}
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
                "cells": [cells[o] for o in OUTCOMES],
                "risks": [float(risks[m].loc[key if len(key) > 1 else key[0]]) for m in risks],
            }
        )
    return {"outcomes": list(OUTCOMES.values()), "risks": list(RISK_METRICS.values()), "rows": rows}


def panel_levels(res: Results) -> tuple[str | None, list[Any]]:
    """The first grid factor and up to three of its levels (lowest, middle, highest)."""
    if not res.factors or group_columns(res) == ["arm"]:
        return None, []
    key = res.factors[0]
    levels = list(dict.fromkeys(res.runs[key]))
    picks = sorted({0, len(levels) // 2, len(levels) - 1})[:MAX_PANELS]
    return key, [levels[i] for i in picks]


def fan_figures(res: Results, folder: Path) -> list[Figure]:
    """One fan chart per key metric; panels are levels of the first grid factor."""
    frame = res.metrics.merge(res.runs, on=["run_id", "replication"])
    key, levels = panel_levels(res)
    figures = []
    for metric, title in FAN_METRICS.items():
        if key is None:
            panels = {"all runs": stats.fan(frame, "arm", "step", metric)}
        else:
            panels = {
                f"{key} = {level}": stats.fan(frame[frame[key] == level], "arm", "step", metric)
                for level in levels
            }
        fig = plots.fan_chart(panels, metric, "step (publishing round)")
        fig.suptitle(title, y=1.03, fontsize=11)
        png = plots.save_png(fig, folder / "figures" / f"fan_{metric}.png")
        caption = f"{title} over time by policy: median and 5–95% band across runs" + (
            f", at three levels of {key}." if key else "."
        )
        figures.append(Figure(f"fan_{metric}", caption, base64.b64encode(png).decode()))
    return figures


def rank_figure(res: Results, folder: Path) -> Figure | None:
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
    png = plots.save_png(plots.rank_frequency(curves), folder / "figures" / "rank_frequency.png")
    where = f" at {key} = {levels[-1]}" if key else ""
    caption = (
        f"Topic rank-frequency (log-log) of reality, the web corpus and the models{where}: "
        "median share at each rank across replications. Tail loss shows as curves that drop "
        "away from reality at high ranks."
    )
    return Figure("rank_frequency", caption, base64.b64encode(png).decode())


def tipping_curves(res: Results) -> tuple[pd.DataFrame | None, str]:
    """Long curves (metric, group, unit, x = AI share, y = relative metric) and their source."""
    if "web.ai_share" in res.factors and group_columns(res) != ["arm"]:
        summary = with_relative(res)
        others = [c for c in res.factors if c != "web.ai_share"]
        unit = summary[[*others, "replication"]].astype(str).agg("|".join, axis=1)
        frames = [
            pd.DataFrame(
                {
                    "metric": m,
                    "group": summary["arm"],
                    "unit": unit,
                    "x": summary["web.ai_share"].astype(float),
                    "y": summary[f"rel_{m}"],
                }
            )
            for m in RISK_METRICS
        ]
        return pd.concat(frames), "final values of runs across the AI-share grid"
    if res.metrics.groupby("run_id")["ai_share"].nunique().max() > 1:
        rel = stats.relative_to_start(res.metrics, list(RISK_METRICS)).merge(res.runs)
        frames = [
            pd.DataFrame(
                {
                    "metric": m,
                    "group": rel["arm"],
                    "unit": rel["run_id"],
                    "x": rel["ai_share"],
                    "y": rel[m],
                }
            )
            for m in RISK_METRICS
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
    for metric, label in RISK_METRICS.items():
        part = curves[curves["metric"] == metric].dropna(subset=["y"])
        found = stats.tipping_points(part, threshold)
        crossings[label] = {t.group: t.estimate for t in found if t.estimate > t.start}
        panels[label] = stats.fan(part, "group", "x", "y")
        rows += [{"metric": label, "tip": t} for t in found]
    fig = plots.tipping_curves(panels, threshold, crossings)
    png = plots.save_png(fig, folder / "figures" / "tipping.png")
    caption = (
        f"Risk metrics relative to their pre-AI value against AI share ({source}); dashed: the "
        f"threshold {threshold:g}; dotted: each policy's tipping point."
    )
    figure = Figure("tipping", caption, base64.b64encode(png).decode())
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
        for outcome in ("final_topic_hill1", "final_tail_survival"):
            means = mine.groupby("design_point")[outcome].mean()
            values = means.reindex(range(len(points))).to_numpy(dtype=float)
            found = stats.sensitivity(spec.design, salib_problem(spec), points, values, outcome)
            if found.table is None:
                return {"results": [], "figures": [], "reason": found.reason}
            results.append({"arm": arm, "label": OUTCOMES[outcome], "s": found})
            value, error = (
                ("mu_star", "mu_star_conf") if found.method == "morris" else ("ST", "ST_conf")
            )
            fig = plots.sensitivity_bars(found.table, value, error, f"{arm}: {OUTCOMES[outcome]}")
            name = f"sensitivity_{arm}_{outcome}"
            png = plots.save_png(fig, folder / "figures" / f"{name}.png")
            caption = f"{found.method} {value} (±95% CI) for {OUTCOMES[outcome]}, policy {arm}."
            figures.append(Figure(name, caption, base64.b64encode(png).decode()))
    return {"results": results, "figures": figures, "reason": ""}


def scenario_facts(res: Results) -> list[tuple[str, str]]:
    """The scenario's key settings as (label, value) pairs for the summary table."""
    s = res.scenario
    share = s["web"]["ai_share"]
    if isinstance(share, dict):
        share = f"{share['start']} → {share['end']} ({share['shape']})"
    if "web.ai_share" in res.factors:
        share = "swept: see the factor below"
    detector = s["filtering"]["detector"]
    provenance = s["filtering"]["provenance"]
    return [
        ("Steps × replications", f"{s['steps']} × {s['replications']}"),
        ("AI share of new documents", str(share)),
        ("Topics / words", f"{s['content']['n_topics']} / {s['content']['n_words']}"),
        ("Humans / sites", f"{s['humans']['count']} / {s['web']['n_sites']}"),
        (
            "Models, regime, retrain every",
            f"{s['models']['count']}, {s['models']['regime']}, "
            f"{s['models']['retrain_every']} steps",
        ),
        (
            "Generation (temperature, top_p)",
            f"{s['models']['temperature']}, {s['models']['top_p']}",
        ),
        ("Detector (tpr, fpr)", f"{detector['tpr']}, {detector['fpr']}" if detector else "none"),
        (
            "Provenance labels",
            f"rate {provenance['label_rate']}, honoured: {provenance['honored']}",
        ),
        (
            "Human reserve / tail protection",
            f"{s['filtering']['human_reserve']} / {s['filtering']['protect_tail']}",
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
    rank = rank_figure(res, folder)
    return {
        "res": res,
        "title": f"Policy report: {res.scenario['name']}",
        "description": res.scenario.get("description", ""),
        "facts": scenario_facts(res),
        "design": design_facts(res),
        "threshold": threshold,
        "table": policy_table(res, threshold),
        "fans": fan_figures(res, folder),
        "rank": rank,
        "tipping": tipping_section(res, threshold, folder),
        "sensitivity": sensitivity_section(res, folder),
        "manifest": res.manifest,
        "manifest_json": json.dumps(
            {k: v for k, v in res.manifest.items() if k != "spawn_keys"}, indent=2, default=str
        ),
        "design_columns": DESIGN_COLUMNS,
        "fmt": fmt,
        "tip": tip,
    }


def write_report(
    folder: str | Path, formats: tuple[str, ...] = ("html", "md"), threshold: float = 0.8
) -> list[Path]:
    """Render the report of `folder` into it; returns the written report files."""
    folder = Path(folder)
    res = load_results(folder)
    context = build_context(res, threshold, folder)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    written = []
    for fmt_name in formats:
        path = folder / f"report.{fmt_name}"
        atomic_write_text(path, env.get_template(f"report.{fmt_name}.j2").render(**context))
        written.append(path)
    return written
