"""The tables behind the report's answer: outcomes relative to a drift-free reference, paired
differences against the no-policy arm, pre-AI values, and the findings drawn from them.

Everything here is a function of a `Results` (or of tables derived from it); `analysis.report`
turns these into figures and template context, `analysis.findings` into sentences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis import findings, stats
from analysis.findings import Sentence
from analysis.load import SPAWN_KEY, Results
from simulation import dotted, registry, runner

AI_SHARE_KEY = "web.ai_share"  # the scenario key; registry.AI_SHARE is the metric column


def key_metrics() -> tuple[registry.Metric, ...]:
    """The outcomes the answer is about: the registry's `risk` view."""
    return registry.shown_in("risk")


def share_axis(res: Results) -> str | None:
    """The AI-share grid factor, if the folder's design has one."""
    design = (res.scenario.get("sweep") or {}).get("design")
    return AI_SHARE_KEY if design == "grid" and AI_SHARE_KEY in res.factors else None


def reference_kind(res: Results) -> str:
    """What ratios are taken against: no-AI `twins`, the AI-share-0 level of the `grid`, or
    each run's `step0` value (the only reference a run without either has)."""
    if runner.has_twins(res.summary):
        return "twins"
    axis = share_axis(res)
    return "grid" if axis and float(res.runs[axis].min()) == 0.0 else "step0"


def baseline_arm(res: Results) -> str:
    """The no-policy arm that policies are compared with: the arm named `none`, else the first
    arm whose filtering is all off, else the first arm."""
    if "none" in res.arms:
        return "none"
    arms = (res.scenario.get("sweep") or {}).get("arms") or {}
    for arm in res.arms:
        config = dotted.updated(res.scenario, arms.get(arm) or {})
        f = config.get("filtering", {})
        provenance = f.get("provenance") or {}
        if (
            f.get("detector") is None
            and not (provenance.get("honored") and provenance.get("label_rate", 0) > 0)
            and not f.get("human_reserve")
            and not f.get("protect_tail")
        ):
            return arm
    return res.arms[0]


def with_axis(res: Results) -> pd.DataFrame:
    """The summary with `x`: each run's AI share on the grid (NaN without an AI-share axis)."""
    axis = share_axis(res)
    frame = res.summary.copy()  # one block: summaries of runs with twins are wide
    frame["x"] = frame[axis].astype(float) if axis else np.nan
    return frame


def step0(res: Results, names: list[str]) -> pd.DataFrame:
    """Each run's step-0 (pre-AI archive) value of the metrics `names`, indexed by run_id."""
    return res.metrics[res.metrics["step"] == 0].set_index("run_id")[names]


def relative_runs(res: Results, kind: str) -> pd.DataFrame:
    """`with_axis(res)` plus `rel_<name>`: each key metric's final value over its reference.

    `twins`: the run's own no-AI twin (paired). `grid`: the mean final value of the same arm's
    runs at AI share 0 (other grid factors equal); those runs are other design points, so other
    random numbers: the ratio is unpaired. `step0`: the run's own step-0 value. A reference of
    0 gives NaN.
    """
    frame = with_axis(res)
    metrics = key_metrics()
    if kind == "twins":
        refs = {m.name: frame[f"no_ai_{m.final}"] for m in metrics}
    elif kind == "grid":
        others = ["arm", *(f for f in res.factors if f != AI_SHARE_KEY)]
        finals = [m.final for m in metrics]
        zero = frame[frame["x"] == 0.0].groupby(others, as_index=False)[finals].mean()
        level = frame[others].merge(zero, on=others, how="left")[finals].to_numpy()
        refs = {m.name: level[:, i] for i, m in enumerate(metrics)}
    else:
        start = step0(res, [m.name for m in metrics]).reindex(frame["run_id"]).to_numpy()
        refs = {m.name: start[:, i] for i, m in enumerate(metrics)}
    for m in metrics:
        ref = np.asarray(refs[m.name], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"rel_{m.name}"] = np.where(ref > 0, frame[m.final].to_numpy() / ref, np.nan)
    return frame


def relative_table(rel: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per arm, AI share (x) and key metric: median ratio, interval, n and the share of runs
    below `threshold` (long: arm, x, outcome = metric name, median, low, high, n, p_below)."""
    names = [m.name for m in key_metrics()]
    table = stats.intervals(rel, ["arm", "x"], [f"rel_{n}" for n in names])
    below = [
        stats.share_below(rel, ["arm", "x"], f"rel_{n}", threshold).rename(f"rel_{n}")
        for n in names
    ]
    p = pd.concat(below, axis=1).stack(future_stack=True).rename("p_below")
    p.index = p.index.set_names(["arm", "x", "outcome"])
    table = table.merge(p.reset_index(), on=["arm", "x", "outcome"], how="left")
    return table.assign(outcome=table["outcome"].str.removeprefix("rel_"))


def paired_against_baseline(rel: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per arm (not the baseline), AI share and key metric: mean paired difference of final
    values against `baseline` with its bootstrap interval (long, outcome = metric name)."""
    finals = {m.final: m.name for m in key_metrics()}
    table = stats.paired_table(rel, list(finals), baseline, ["arm", "x"], SPAWN_KEY)
    return table.assign(outcome=table["outcome"].map(finals))


def pre_ai_values(res: Results) -> pd.DataFrame:
    """Step-0 (pre-AI) median and interval across runs of every `outcome` metric (long)."""
    names = [m.name for m in registry.shown_in("outcome")]
    start = res.metrics.loc[res.metrics["step"] == 0, ["run_id", *names]]
    return stats.intervals(start.assign(all="all"), ["all"], names).drop(columns="all")


def where(arm: str, x: float) -> str:
    """'with none at AI share 0.95' (or 'with none' without an AI-share axis)."""
    return f"with {arm}" + ("" if np.isnan(x) else f" at AI share {x:g}")


def sweep_findings(
    res: Results, relative: pd.DataFrame, paired: pd.DataFrame, threshold: float, kind: str
) -> list[Sentence]:
    """The sweep's answer: pre-AI values, how far each policy keeps each key metric above the
    threshold, the best policy against no policy, and AI's effect split (with twins)."""
    metrics, baseline = key_metrics(), baseline_arm(res)
    pre = pre_ai_values(res).set_index("outcome")["median"]
    out = [findings.pre_ai({m.name: float(pre[m.name]) for m in metrics if m.name in pre})]
    short = findings.SHORT_REFERENCE[kind]
    for m in metrics:
        mine = relative[relative["outcome"] == m.name]
        if np.isnan(mine["x"]).all():
            row = mine.sort_values("median").iloc[0]
            out.append(findings.ratio_sentence(m, row, threshold, short, str(row["arm"])))
        else:
            out.append(findings.threshold_sentence(mine, m, threshold, short))
    if not paired.empty:
        out += [
            findings.policy_sentence(paired[paired["outcome"] == m.name], m, baseline)
            for m in metrics
        ]
    if kind == "twins":
        rel = with_axis(res)
        top = rel["x"].max()
        mine = rel[(rel["arm"] == baseline) & ((rel["x"] == top) | np.isnan(top))]
        row = runner.decomposition(mine, [], metrics[:1]).iloc[0]
        out.append(findings.decomposition_sentence(row, metrics[0], where(baseline, top)))
    return out


def run_findings(res: Results, threshold: float, kind: str) -> list[Sentence]:
    """A single run's answer: what happened to each key metric over time and, with twins,
    what AI changed and how much of it is dilution and how much feedback."""
    metrics = key_metrics()
    start = step0(res, [m.name for m in metrics]).median()
    final = stats.intervals(res.summary.copy().assign(all=0), ["all"], [m.final for m in metrics])
    out = []
    for m, row in zip(metrics, final.itertuples(), strict=True):
        out.append(
            findings.trajectory_sentence(
                m, float(start[m.name]), row.median, row.low, row.high, int(row.n)
            )
        )
    rel = relative_table(relative_runs(res, kind), threshold)
    short = findings.SHORT_REFERENCE[kind]
    out += [
        findings.ratio_sentence(m, rel[rel["outcome"] == m.name].iloc[0], threshold, short)
        for m in metrics
    ]
    if kind == "twins":
        row = runner.decomposition(res.summary, [], metrics[:1]).iloc[0]
        out.append(findings.decomposition_sentence(row, metrics[0], "over these runs"))
    return out


def cell_counts(res: Results) -> int:
    """The smallest number of runs behind a report cell: a policy at one level of the AI-share
    grid, or a policy over the whole ensemble of a design without that axis (an LHS sample
    has one run per design point, but its cells pool every sampled condition)."""
    return int(with_axis(res).groupby(["arm", "x"], dropna=False).size().min())


def answer(res: Results, threshold: float) -> dict[str, Any]:
    """The report's first screen as data: findings, warnings, reading notes and the tables the
    heatmaps and the paired-difference table are drawn from."""
    kind = reference_kind(res)
    n = cell_counts(res)
    common = {
        "reference": kind,
        "reference_text": findings.REFERENCES[kind],
        "warnings": findings.sample_warnings(n),
        "notes": findings.reading_notes(len(res.arms) > 1, kind, threshold),
        "n": n,
    }
    if res.kind == "run":
        return common | {"findings": run_findings(res, threshold, kind)}
    rel = relative_runs(res, kind)
    relative = relative_table(rel, threshold)
    baseline = baseline_arm(res)
    paired = paired_against_baseline(rel, baseline) if len(res.arms) > 1 else pd.DataFrame()
    return common | {
        "findings": sweep_findings(res, relative, paired, threshold, kind),
        "relative": relative,
        "paired": paired,
        "baseline": baseline,
    }
