"""The metric registry: every metric column of Ouroboros, declared once.

A `Metric` holds what each consumer needs: the column name, a function of the model state,
label and unit, direction (is a higher value more diverse?), which views show it and a one-line
definition. The DataCollector's reporters, the run summaries, the CLI table, the policy report,
the browser view, validation and the ODD's metric table all read `METRICS`; adding a metric is
one declaration here (docs/ARCHITECTURE.md has the recipe). The column names are written in
this module only: other modules refer to a metric by its constant (`TOPIC_HILL1.name`) or by
the views that show it (`shown_in("fan")`).

Metrics are computed from counts that `observe` (`simulation.observation`) gathers once per
step: a vectorised pass over the documents of the metrics window, never a Python loop over
documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from simulation import metrics as M
from simulation import observation as read

if TYPE_CHECKING:
    from simulation.model import WebEcosystem

Reader = Callable[["WebEcosystem"], float]  # a metric's computation: a function of the model
View = Literal["cli", "outcome", "fan", "risk", "viz_diversity", "viz_shares", "calibration"]


@dataclass(frozen=True)
class Metric:
    """One metric column: how it is computed, read and shown.

    `higher_is_diverse` is True where a higher value means a more diverse, less collapsed web,
    False where it means less, and None where the metric has no such direction (a share, a
    detector rate). `summarised` metrics get `final_` and `mean_` columns in summary.csv.
    `views` lists where the metric is shown: `cli` (the table `ouroboros run` prints),
    `outcome` (the report's policies × outcomes table), `fan` (the report's fan charts), `risk`
    (risk probabilities and tipping points, relative to the pre-AI value), `viz_diversity` and
    `viz_shares` (the browser view's two time-series panels), `calibration` (the targets
    `ouroboros calibrate` offers). `compute` is a module-level function of the model returning
    a float (or a `partial` of one), so a model holding it as a reporter pickles.
    """

    name: str
    label: str
    unit: str
    definition: str
    compute: Reader
    higher_is_diverse: bool | None = None
    summarised: bool = True
    views: tuple[View, ...] = ()

    @property
    def final(self) -> str:
        """Its summary.csv column of final values (the value at each run's last step)."""
        return f"final_{self.name}"

    @property
    def mean(self) -> str:
        """Its summary.csv column of time averages (over steps ≥ 1)."""
        return f"mean_{self.name}"

    @property
    def title(self) -> str:
        """Label with unit, for axes and table headers."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


AI_SHARE = Metric(
    "ai_share",
    "AI share",
    "share of new documents",
    "the AI share of new documents scheduled for the step (0 at step 0)",
    read.ai_share,
    summarised=False,
)
TOPIC_RICHNESS = Metric(
    "topic_richness",
    "Topics present (Hill-0)",
    "topics",
    "number of topics with at least one document in the metrics window",
    read.topic_richness,
    higher_is_diverse=True,
    views=("cli", "outcome", "viz_diversity"),
)
TOPIC_HILL1 = Metric(
    "topic_hill1",
    "Topic diversity (Hill-1)",
    "effective topics",
    "exp of the Shannon entropy of the window's topic distribution",
    read.topic_hill1,
    higher_is_diverse=True,
    views=("cli", "outcome", "fan", "risk", "viz_diversity"),
)
TOPIC_HILL2 = Metric(
    "topic_hill2",
    "Topic diversity (Hill-2)",
    "effective topics",
    "inverse Simpson index 1 / Σ p² of the window's topic distribution",
    read.topic_hill2,
    higher_is_diverse=True,
    views=("cli", "viz_diversity"),
)
WORD_HILL1 = Metric(
    "word_hill1",
    "Word diversity (Hill-1)",
    "effective words",
    "exp of the Shannon entropy of the window's word distribution",
    read.word_hill1,
    higher_is_diverse=True,
)
TAIL_MASS = Metric(
    "tail_mass",
    "Tail mass",
    "× reality's tail share",
    "share of window documents on tail topics divided by p*'s tail share (1 = as in reality; "
    "above 1 is overshoot, not diversity)",
    read.tail_mass,
    views=("cli",),
)
TAIL_DISTORTION = Metric(
    "tail_distortion",
    "Tail distortion",
    "|ln ratio|",
    "|ln(tail_mass)|: 0 as in reality, the same for a tail r times too large or too small",
    read.tail_distortion,
    higher_is_diverse=False,
    views=("cli", "outcome", "fan"),
)
TAIL_SURVIVAL = Metric(
    "tail_survival",
    "Tail survival",
    "share of tail topics",
    "share of tail topics to which the average model gives probability above 1e-9",
    read.tail_survival,
    higher_is_diverse=True,
    views=("cli", "outcome", "fan", "risk", "viz_shares"),
)
JS_DIVERGENCE = Metric(
    "js_divergence",
    "JS divergence from reality",
    "bits",
    "Jensen–Shannon divergence of the window's topic distribution from p*",
    read.js_divergence,
    higher_is_diverse=False,
    views=("cli", "outcome", "fan"),
)
JS_DIVERGENCE_ARCHIVE = Metric(
    "js_divergence_archive",
    "JS divergence from the pre-AI web",
    "bits",
    "Jensen–Shannon divergence of the window's topic distribution from the archive's (the "
    "pre-AI human mix at step 0)",
    read.js_divergence_archive,
    higher_is_diverse=False,
    views=("cli", "outcome"),
)
HELLINGER = Metric(
    "hellinger",
    "Hellinger distance from reality",
    "",
    "Hellinger distance of the window's topic distribution from p*",
    read.hellinger,
    higher_is_diverse=False,
)
MISSING_MASS = Metric(
    "missing_mass",
    "Missing mass",
    "share of p*",
    "p* mass of the (topic, word) cells to which the average model gives probability 0",
    read.missing_mass,
    higher_is_diverse=False,
    views=("cli", "outcome", "fan"),
)
MODEL_CROSS_ENTROPY = Metric(
    "model_cross_entropy",
    "Model cross-entropy",
    "nats/word",
    "mean cross-entropy of the models on held-out real documents, each model smoothed by "
    f"interpolation with its unigram and a uniform (λ = {M.EVAL_INTERPOLATION})",
    read.cross_entropy,
    higher_is_diverse=False,
    views=("cli", "outcome"),
)
TAIL_WORD_SUPPORT = Metric(
    "tail_word_support",
    "Word support on tail topics",
    "words per topic",
    "mean over tail topics of the number of words the average model gives nonzero probability",
    read.tail_word_support,
    higher_is_diverse=True,
    views=("cli",),
)
HEAD_WORD_SUPPORT = Metric(
    "head_word_support",
    "Word support on head topics",
    "words per topic",
    "mean over head (non-tail) topics of the number of words the average model gives nonzero "
    "probability",
    read.head_word_support,
    higher_is_diverse=True,
)
SYNTHETIC_SHARE = Metric(
    "synthetic_share",
    "Synthetic share of the corpus",
    "share of documents",
    "share of the window's documents published by a model",
    read.synthetic_share,
    views=("cli", "outcome", "fan", "viz_shares"),
)
SYNTHETIC_TOKEN_SHARE = Metric(
    "synthetic_token_share",
    "Model-written share of corpus tokens",
    "share of tokens",
    "Σ ai_fraction × length / Σ length over the window's documents (assisted words included)",
    read.synthetic_token_share,
    views=("cli", "outcome", "viz_shares"),
)
TRAIN_SYNTHETIC_SHARE = Metric(
    "train_synthetic_share",
    "Synthetic share of training data",
    "share of weight",
    "mean over models of the synthetic share of the weight of their last training set",
    read.train_synthetic_share,
    views=("cli", "outcome", "viz_shares"),
)
TRAIN_SYNTHETIC_TOKEN_SHARE = Metric(
    "train_synthetic_token_share",
    "Model-written share of training tokens",
    "share of token weight",
    "mean over models of Σ weight × ai_fraction × length / Σ weight × length over their last "
    "training set",
    read.train_synthetic_token_share,
    views=("cli", "outcome"),
)
DETECTOR_PRECISION = Metric(
    "detector_precision",
    "Detector precision",
    "",
    "share of flagged documents in the last crawls that are synthetic",
    read.precision,
    summarised=False,
)
DETECTOR_RECALL = Metric(
    "detector_recall",
    "Detector recall",
    "",
    "share of synthetic documents in the last crawls that the detector flagged",
    read.recall,
    summarised=False,
)
HUMAN_FLAG_RATE = Metric(
    "human_flag_rate",
    "Detector flags on human text",
    "share of human documents",
    "share of the human-authored documents (assisted ones included) in the last crawls that "
    "the detector flagged",
    read.human_flag_rate,
    views=("cli", "outcome"),
)
HUMAN_AI_ASSIST = Metric(
    "human_ai_assist",
    "Human AI assistance",
    "share of documents",
    "mean probability that a human drafts a document with a model",
    read.assist,
    views=("cli",),
)
HUMAN_HOMOGENIZATION = Metric(
    "human_homogenization",
    "Human homogenisation",
    "cosine similarity",
    "mean pairwise cosine similarity of the humans' topic mixtures",
    read.homogenization,
    higher_is_diverse=False,
)


def _observed(
    name: str, label: str, unit: str, definition: str, compute: Reader, higher: bool | None = None
) -> Metric:
    """What published measurements of today's web observe (Ahrefs' 2025 bins of new pages, what
    search shows and crawlers collect, how alike assisted writing is), compared with them by
    `ouroboros calibrate` at dates: not summarised, as it is no outcome."""
    return Metric(name, label, unit, definition, compute, higher, False, ("calibration",))


NEW_PAGE_SHARES: tuple[Metric, ...] = tuple(
    _observed(
        name,
        f"New pages: {label}",
        "share of new documents",
        f"share of the step's new documents with model-written word share {which}",
        partial(read.new_share, entry),
    )
    for name, entry, label, which in (
        ("new_pure_human_share", read.PURE_HUMAN, "pure human", "f = 0"),
        ("new_minimal_ai_share", read.MINIMAL, "minimal AI", "0 < f ≤ 10%"),
        ("new_moderate_ai_share", read.MODERATE, "moderate AI", "10% < f ≤ 40%"),
        ("new_substantial_ai_share", read.SUBSTANTIAL, "substantial AI", "40% < f ≤ 70%"),
        ("new_dominant_ai_share", read.DOMINANT, "dominant AI", "70% < f < 100%"),
        ("new_pure_ai_share", read.PURE_AI, "pure AI", "f = 1 (farm documents among them)"),
        ("new_majority_ai_share", read.MOSTLY_AI, "mostly AI", "f > 0.5"),
    )
)
CRAWL_MAJORITY_AI_SHARE = _observed(
    "crawl_majority_ai_share",
    "Crawled pages: mostly AI",
    "share of crawled documents",
    "share with f > 0.5 of the documents in the crawlers' last crawls, before filtering",
    read.crawl_majority_ai_share,
)
TOP_RANKED_SHARES: tuple[Metric, ...] = tuple(
    _observed(
        name,
        f"Top-ranked pages: {label}",
        "share of new documents on top sites",
        f"share with {which} of the step's new documents on the top {read.TOP_RANKED:.0%} of "
        "sites by PageRank (what search shows)",
        partial(read.top_ranked_share, entry),
    )
    for name, entry, label, which in (
        ("top_ranked_pure_ai_share", read.PURE_AI, "pure AI", "f = 1"),
        ("top_ranked_pure_human_share", read.PURE_HUMAN, "pure human", "f = 0"),
        ("top_ranked_majority_ai_share", read.MOSTLY_AI, "mostly AI", "f > 0.5"),
    )
)
ASSISTED_SIMILARITY_GAIN = _observed(
    "assisted_similarity_gain",
    "Similarity gain of assisted writing",
    "relative change",
    "mean cosine similarity of the word counts of same-topic pairs of the step's human "
    "documents with f > 0, divided by that of those with f = 0, minus 1",
    read.similarity_gain,
    higher=False,
)

METRICS: tuple[Metric, ...] = (
    AI_SHARE,
    TOPIC_RICHNESS,
    TOPIC_HILL1,
    TOPIC_HILL2,
    WORD_HILL1,
    TAIL_MASS,
    TAIL_DISTORTION,
    TAIL_SURVIVAL,
    JS_DIVERGENCE,
    JS_DIVERGENCE_ARCHIVE,
    HELLINGER,
    MISSING_MASS,
    MODEL_CROSS_ENTROPY,
    TAIL_WORD_SUPPORT,
    HEAD_WORD_SUPPORT,
    SYNTHETIC_SHARE,
    SYNTHETIC_TOKEN_SHARE,
    TRAIN_SYNTHETIC_SHARE,
    TRAIN_SYNTHETIC_TOKEN_SHARE,
    DETECTOR_PRECISION,
    DETECTOR_RECALL,
    HUMAN_FLAG_RATE,
    HUMAN_AI_ASSIST,
    HUMAN_HOMOGENIZATION,
    *NEW_PAGE_SHARES,
    CRAWL_MAJORITY_AI_SHARE,
    *TOP_RANKED_SHARES,
    ASSISTED_SIMILARITY_GAIN,
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
COLUMNS: tuple[str, ...] = tuple(BY_NAME)
SUMMARISED: tuple[Metric, ...] = tuple(m for m in METRICS if m.summarised)


def shown_in(view: View) -> tuple[Metric, ...]:
    """The metrics a view shows, in registry order."""
    return tuple(m for m in METRICS if view in m.views)


def reporters() -> dict[str, Reader]:
    """DataCollector model reporters: column name → module-level function (so models pickle)."""
    return {m.name: m.compute for m in METRICS}


def odd_table() -> str:
    """The ODD's metric table as Markdown (docs/ODD.md embeds it; a test keeps them equal)."""
    direction = {True: "higher", False: "lower", None: "—"}
    rows = [
        "| column | what it measures | unit | more diverse when | summarised |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| `{m.name}` | {m.definition} | {m.unit or '—'} | {direction[m.higher_is_diverse]} "
        f"| {'yes' if m.summarised else 'no'} |"
        for m in METRICS
    ]
    return "\n".join(rows)
