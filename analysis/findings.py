"""The report's findings: a few plain sentences generated from its tables, each carrying the
numbers it cites (so a test can check every sentence against them), plus the notes on how to
read the intervals and the small-sample warnings.

Pure functions of tables (pandas DataFrames built by `analysis.sections`); the HTML and the
Markdown report render the same `Sentence.text`, so the prose is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.render import number
from analysis.stats import CONFIDENCE, RESAMPLES, SMALL_SAMPLE
from simulation import registry

# What a ratio's reference is, by the kind of reference a folder allows (see sections.py).
REFERENCES = {
    "twins": "its no-AI twin (same seed, no model text and no AI-assisted drafting)",
    "grid": "the same policy's runs at AI share 0 (human drafting with AI still on)",
    "step0": "its own pre-AI value at step 0 (this includes drift unrelated to AI)",
}
MAX_FINDINGS = 6  # sentences on a report's first screen
SHORT_REFERENCE = {"twins": "no-AI level", "grid": "AI-share-0 level", "step0": "step-0 value"}


@dataclass(frozen=True)
class Sentence:
    """One finding: its text and every number it cites, by name."""

    text: str
    numbers: dict[str, float] = field(default_factory=dict)


def pct(value: float) -> str:
    """A ratio as a whole percentage ('86%'), '—' if missing."""
    return "—" if not np.isfinite(value) else f"{100 * value:.0f}%"


def lower_first(label: str) -> str:
    """'Tail survival' → 'tail survival' inside a sentence; 'JS divergence' stays."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label


SHARE = "share of "  # units that are shares read as percentages ('100% of tail topics')


def quantity(value: float, metric: registry.Metric) -> str:
    """A value with its unit from the registry ('152 effective topics', '100% of tail topics')."""
    if metric.unit.startswith(SHARE):
        return f"{pct(value)} of {metric.unit.removeprefix(SHARE)}"
    return f"{number(value)} {metric.unit}".strip()


def change(value: float, metric: registry.Metric) -> str:
    """A difference with its unit ('+0.4 effective topics', '-3 percentage points')."""
    if metric.unit.startswith(SHARE):
        return f"{100 * value:+.3g} percentage points"
    return f"{value:+.3g} {metric.unit}".strip()


def change_interval(low: float, high: float, metric: registry.Metric) -> str:
    """'[low, high]' of a difference, in `change`'s scale (percentage points for shares)."""
    scale = 100 if metric.unit.startswith(SHARE) else 1
    return interval(scale * low, scale * high)


def interval(low: float, high: float, fmt=number) -> str:
    """'[low, high]' with the given number format."""
    return f"[{fmt(low)}, {fmt(high)}]"


def pre_ai(values: dict[str, float]) -> Sentence:
    """'Before any AI text (step 0), topic diversity was … and tail survival was ….'

    `values` maps a metric name to its median step-0 value across runs.
    """
    parts = [
        f"{lower_first(registry.BY_NAME[name].label)} was {quantity(v, registry.BY_NAME[name])}"
        for name, v in values.items()
    ]
    text = "Before any AI text (step 0), " + " and ".join(parts) + "."
    return Sentence(text[0].upper() + text[1:], {f"pre_ai_{k}": v for k, v in values.items()})


def safe_levels(block: pd.DataFrame, threshold: float) -> tuple[float, float]:
    """(highest AI share up to which the median ratio never falls below `threshold`, the first
    AI share at which it does (NaN if never)). `block`: one policy's rows, columns x, median."""
    ordered = block.sort_values("x")
    below = ordered["median"].to_numpy() < threshold
    x = ordered["x"].to_numpy(dtype=float)
    if not below.any():
        return float(x[-1]), float("nan")
    first = int(np.argmax(below))
    return (float(x[first - 1]) if first else float("nan")), float(x[first])


def threshold_sentence(
    relative: pd.DataFrame, metric: registry.Metric, threshold: float, reference: str
) -> Sentence:
    """Which policies keep `metric` above `threshold` × its reference up to which AI share.

    `relative` has one row per policy and AI share for this metric: arm, x, median, low, high
    (ratios of the final value to the reference, see `analysis.sections.relative_table`).
    """
    label, top = lower_first(metric.label), float(relative["x"].max())
    head = f"{label[0].upper()}{label[1:]} stays above {pct(threshold)} of its {reference}"
    kept, fell, numbers = [], [], {"threshold": threshold, "top": top}
    for arm, block in relative.groupby("arm", sort=False):
        upto, first = safe_levels(block, threshold)
        if np.isnan(first):
            kept.append(str(arm))
            continue
        row = block[block["x"] == first].iloc[0]
        numbers |= {f"{arm}_first": first, f"{arm}_median": row["median"]}
        numbers |= {f"{arm}_low": row["low"], f"{arm}_high": row["high"]}
        ratio = f"{pct(row['median'])} {interval(row['low'], row['high'], pct)}"
        fell.append(f"with {arm} from AI share {number(first)} ({ratio})")
    if not fell:
        worst = relative[relative["x"] == top].sort_values("median", kind="stable").iloc[0]
        numbers |= {"worst_median": worst["median"]}
        numbers |= {"worst_low": worst["low"], "worst_high": worst["high"]}
        text = (
            f"{head} under every policy up to the highest AI share tested ({number(top)}); "
            f"lowest there: {worst['arm']} at {pct(worst['median'])} "
            f"{interval(worst['low'], worst['high'], pct)}."
        )
        return Sentence(text, numbers)
    if kept:
        text = (
            f"{head} up to AI share {number(top)} only with {', '.join(kept)}; it falls below it "
        )
    else:
        text = f"{label[0].upper()}{label[1:]} falls below {pct(threshold)} of its {reference} "
        text += "under every policy: "
    return Sentence(text + "; ".join(fell) + ".", numbers)


def policy_sentence(paired: pd.DataFrame, metric: registry.Metric, baseline: str) -> Sentence:
    """The policy that most raises `metric` over `baseline` at the highest AI share, with its
    paired difference and bootstrap interval. `paired`: arm, x, mean, low, high, n for this
    metric (x NaN when the runs have no AI-share axis)."""
    top = paired["x"].max()
    rows = paired if np.isnan(top) else paired[paired["x"] == top]
    sign = 1 if metric.higher_is_diverse is not False else -1
    best = rows.loc[(sign * rows["mean"]).idxmax()]
    where = "" if np.isnan(top) else f"At AI share {number(top)}, "
    label = lower_first(metric.label)
    numbers = {k: float(best[k]) for k in ("mean", "low", "high", "n")} | {"x": float(top)}
    if (rows[["low", "high"]] == 0).all(axis=None):
        text = f"{where}{label} is the same under every policy as under {baseline} in every run."
        return Sentence(text[0].upper() + text[1:], numbers)
    ci = change_interval(best["low"], best["high"], metric)
    paired_on = f"{CONFIDENCE:.0%} bootstrap interval {ci}, {int(best['n'])} paired replications"
    if best["low"] <= 0 <= best["high"] or sign * best["mean"] <= 0:
        text = (
            f"{where}no policy clearly changes {label} compared with {baseline}: the largest "
            f"gain, with {best['arm']}, is {change(best['mean'], metric)} ({paired_on})."
        )
    else:
        text = (
            f"{where}{best['arm']} protects {label} best: {change(best['mean'], metric)} "
            f"compared with {baseline} ({paired_on})."
        )
    return Sentence(text[0].upper() + text[1:], numbers)


def decomposition_sentence(row: pd.Series, metric: registry.Metric, where: str) -> Sentence:
    """How much of AI's effect on `metric` is dilution and how much feedback.

    `row` is one row of `runner.decomposition` (ai_effect, dilution, feedback and their
    `_low`/`_high` bounds); `where` names its runs ('with none at AI share 0.95').
    """
    effect, dilution, feedback = (float(row[k]) for k in ("ai_effect", "dilution", "feedback"))
    numbers = {"ai_effect": effect, "dilution": dilution, "feedback": feedback}
    numbers |= {"low": float(row["ai_effect_low"]), "high": float(row["ai_effect_high"])}
    ci = change_interval(row["ai_effect_low"], row["ai_effect_high"], metric)
    text = (
        f"{where[0].upper()}{where[1:]}, AI changed {lower_first(metric.label)} by "
        f"{change(effect, metric)} ({CONFIDENCE:.0%} interval {ci}) against the no-AI twins: "
    )
    if effect != 0 and dilution / effect >= 0 and feedback / effect >= 0:
        share = dilution / effect
        numbers["dilution_share"] = share
        text += (
            f"{pct(share)} of it is dilution ({change(dilution, metric)}: AI text on the web) "
            f"and {pct(1 - share)} feedback ({change(feedback, metric)}: models retraining on it)."
        )
    else:
        text += (
            f"dilution (AI text on the web) {change(dilution, metric)}, feedback (models "
            f"retraining on it) {change(feedback, metric)}, pulling in opposite directions."
        )
    return Sentence(text, numbers)


def trajectory_sentence(
    metric: registry.Metric, start: float, final: float, low: float, high: float, n: int
) -> Sentence:
    """A single run's 'went from … (step 0) to … (final)' for one metric."""
    text = (
        f"{metric.label} went from {quantity(start, metric)} at step 0 to {quantity(final, metric)}"
        f" at the end (median of {n} replications, interval "
        f"{interval(low, high, pct if metric.unit.startswith(SHARE) else number)})."
    )
    return Sentence(text, {"start": start, "final": final, "low": low, "high": high, "n": n})


def ratio_sentence(
    metric: registry.Metric, row: pd.Series, threshold: float, reference: str, arm: str = ""
) -> Sentence:
    """One group's final value as a share of its reference, judged against `threshold`."""
    above = row["median"] >= threshold
    who = f"Under {arm}, {lower_first(metric.label)}" if arm else metric.label
    text = (
        f"{who} ends at {pct(row['median'])} {interval(row['low'], row['high'], pct)} of its "
        f"{reference}: {'above' if above else 'below'} the {pct(threshold)} threshold."
    )
    return Sentence(text, {k: float(row[k]) for k in ("median", "low", "high")})


def robustness_sentence(robustness: dict[str, Any], points: int) -> Sentence | None:
    """Which policy holds up best across the sampled conditions (analysis.discovery's regret
    ranking: mean over outcomes of each policy's rank by largest regret, 1 = most robust)."""
    rows = robustness["rows"]
    if len(rows) < 2:
        return None
    best = [r["arm"] for r in rows if r["mean_rank"] == rows[0]["mean_rank"]]
    worst = rows[-1]
    lead = (
        f"{' and '.join(best)} tie as the most robust policies"
        if len(best) > 1
        else (f"the most robust policy is {best[0]}")
    )
    outcomes = len(robustness["metrics"])
    return Sentence(
        f"Across the {points} sampled conditions of the web, {lead} (mean regret rank "
        f"{number(rows[0]['mean_rank'])} over {outcomes} outcomes, 1 = best); the least robust "
        f"is {worst['arm']} ({number(worst['mean_rank'])}).",
        {"best_rank": rows[0]["mean_rank"], "worst_rank": worst["mean_rank"], "outcomes": outcomes},
    )


def discovery_sentence(condition: dict[str, Any]) -> Sentence | None:
    """Where the runs of a PRIM condition concentrate, or that no region does."""
    box = condition["box"]
    if box is None:
        return None
    clear = [limit for limit in box["limits"] if not limit["chance"]]
    runs = f"{condition['cases']} of {condition['runs']} runs"
    numbers = {
        "cases": condition["cases"],
        "coverage": box["stats"]["coverage"],
        "density": box["stats"]["density"],
    }
    if not clear:
        return Sentence(
            f"{condition['label']} in {runs} ({condition['note']}); no region of the sampled "
            "conditions concentrates them (every limit of the PRIM box may be chance).",
            numbers,
        )
    where = "; ".join(f"{limit['factor']} {limit['condition']}" for limit in clear)
    return Sentence(
        f"{condition['label']} in {runs}; {pct(numbers['coverage'])} of them lie where {where} "
        f"(PRIM box holding {pct(numbers['density'])} such runs).",
        numbers,
    )


def discovery_sentences(found: dict[str, Any]) -> list[Sentence]:
    """The findings of a sampled sweep's scenario discovery: robustness first, then where the
    first risk metric's bad runs concentrate."""
    robustness = found["robustness"]  # None with a single policy
    out = [robustness_sentence(robustness, found["points"])] if robustness else []
    out += [discovery_sentence(c) for c in found["conditions"][:1]]
    return [sentence for sentence in out if sentence is not None]


def reading_notes(policies: bool, reference: str, threshold: float) -> list[str]:
    """How to read the report's intervals and thresholds (and, where `policies` are compared,
    the paired differences)."""
    notes = [
        f"Ratios compare a run's final value with {REFERENCES[reference]}; a cell at risk is "
        f"one whose median ratio is below {pct(threshold)}.",
        "Intervals across runs are the 5–95% quantiles of the runs, or their range (min–max) "
        f"when a cell has fewer than {SMALL_SAMPLE} runs.",
    ]
    if policies:
        notes.append(
            "Differences against the no-policy arm are means of per-replication paired "
            f"differences with a {CONFIDENCE:.0%} bootstrap interval ({RESAMPLES:,} resamples, "
            "seeded)."
        )
    if reference == "twins":
        notes.append(
            "Changes caused by AI are means of each run's paired differences with its twins, "
            f"with a {CONFIDENCE:.0%} interval of mean ± t·SE."
        )
    return notes


def sample_warnings(n: int) -> list[str]:
    """Warnings for a report whose cells hold `n` replications (none from `SMALL_SAMPLE` on)."""
    if n >= SMALL_SAMPLE or n < 1:
        return []
    return [
        f"Only {n} replication{'s' if n != 1 else ''} per cell: every interval is the range "
        f"(min–max) of {n} runs, bootstrap intervals are coarse, and a probability over runs "
        f"can only take {n + 1} values ({', '.join(pct(k / n) for k in range(n + 1))}). "
        f"Rerun with --set replications=10 or more before relying on these numbers."
    ]


def question(sweep: bool, twins: bool) -> str:
    """The question a report answers: a sweep's policy question or a single run's own."""
    if sweep:
        return (
            "Which data-curation policies keep the web diverse as the share of AI-generated "
            "content grows, up to what AI share, and how sure can we be?"
        )
    return "What happened to the web's diversity over time in this scenario" + (
        ", and what did AI change compared with the same runs without AI?" if twins else "?"
    )


# Explanations both report formats print as they are (written once, here).
PROSE = {
    "paired": (
        "Each policy's final value minus that of the no-policy arm on the same random numbers "
        "(same design point and replication), averaged over replications; in brackets the "
        f"{CONFIDENCE:.0%} bootstrap interval of that mean. Positive: more than without a policy."
    ),
    "decomposition": (
        "Every run has two twins on its seed (same world, network, humans and archive): no AI "
        "(no model publishes and no human drafts with a model) and no feedback (models keep "
        "their first fit, on the pre-AI archive). Change caused by AI = full − no AI = dilution "
        "(no feedback − no AI: synthetic text on the web from models that never retrain) + "
        "feedback (full − no feedback: what retraining on the mixed web adds). Each change is "
        f"the mean of the runs' paired differences with its {CONFIDENCE:.0%} interval "
        "(mean ± t·SE)."
    ),
    "pre_ai": (
        "Values at step 0, before any AI text: the pre-AI archive the web starts from (median "
        "and interval across runs; a single run's report adds its final values)."
    ),
    "outcomes": (
        "Final values by policy (rows) and AI share (columns): median and, below it, the "
        "interval across the replications of each cell."
    ),
    "tipping": (
        "The AI share at which a key outcome falls below the threshold share of its reference. "
        "Estimate and interval: median and spread of the crossings of the individual "
        "replications (one that never crosses counts as 'not reached'); 'already' means below "
        "the threshold at the lowest AI share."
    ),
}


def assumptions(root_seed: object) -> list[str]:
    """The modelling and statistical assumptions a reader of either format is told."""
    return [
        "The world (p*, the topic and word distributions) is drawn from the root seed alone "
        "and shared by every run.",
        f"Run seeds: SeedSequence({root_seed}, spawn_key=(design_point, replication)); policy "
        "arms share keys, so policies are compared on common random numbers. Levels of a swept "
        "setting are different design points, so they do not share random numbers.",
        "Tail survival counts tail topics to which the average model gives probability above "
        "1e-9; model probabilities are floored at 1e-9 for the cross-entropy.",
    ]
