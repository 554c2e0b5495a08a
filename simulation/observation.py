"""The counts a step's metrics read, computed once per step (and per fit for the models).

`observe` gathers the topic and word counts of the metrics window, the models' topic
distributions and the detector's decisions in one vectorised pass over the window's
documents, and what today's web can be measured by (the model-written share of the step's new
pages, of what search shows and of what crawlers collect; the homogenisation of assisted
writing); `observe_fits` the models' support and held-out scores, recomputed only after a
refit. Both are cached on the model, so the registry's metrics (`simulation.registry`) share
them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from simulation import metrics as M
from simulation.threads import run_each

if TYPE_CHECKING:
    from simulation.corpus import Documents
    from simulation.model import WebEcosystem


# Bins of a document's model-written word share f (`ai_fraction`), as Ahrefs (2025) binned
# pages: pure human (f = 0), minimal (0 < f ≤ 10%), moderate (≤ 40%), substantial (≤ 70%),
# dominant (< 100%), pure AI (f = 1); `AI_BIN_EDGES` are the upper edges of the first four.
# An AI-share profile (`ai_profile`) is the share of documents in each bin, then (`MOSTLY_AI`)
# the share more than half model-written.
PURE_HUMAN, MINIMAL, MODERATE, SUBSTANTIAL, DOMINANT, PURE_AI, MOSTLY_AI = range(7)
AI_BIN_EDGES = np.array([0.0, 0.10, 0.40, 0.70], dtype=np.float32)  # f's own type: exact edges
MAJORITY_AI = np.float32(0.5)
# What search shows: the documents on the sites whose PageRank is in this top share of sites.
TOP_RANKED = 0.05
SIMILARITY_SAMPLE = 4096  # human documents of a step compared for the similarity gain, at most


@dataclass(frozen=True)
class Observation:
    """The counts every metric of one step reads, gathered once per step."""

    step: int
    topic_counts: np.ndarray  # (K,) documents per topic in the metrics window
    word_counts: np.ndarray  # (V,) words in the metrics window
    model_topic_probs: np.ndarray  # (models, K) the models' topic distributions
    archive_topic_counts: np.ndarray  # (K,) documents per topic of the pre-AI archive
    detector_precision: float
    detector_recall: float
    human_flag_rate: float
    new_profile: np.ndarray  # (7,) `ai_profile` of the documents published at this step
    top_ranked_profile: np.ndarray  # (7,) the same of those on top-ranked sites
    crawl_majority_ai: float  # share with f > 0.5 of the documents of the last crawls
    assisted_similarity_gain: float  # same-topic similarity of assisted / unassisted, minus 1
    homogenization: float  # mean pairwise cosine similarity of the humans' topic mixtures


def observe(model: WebEcosystem) -> Observation:
    """This step's `Observation` of `model`, computed on first use and kept until the next step.

    Its three costliest parts (the window's word counts, the similarity gain of assisted
    writing and the humans' homogenisation) run side by side on the model threads
    (`threads.run_each`): they draw nothing and each reads only what this step has settled.
    """
    cached: Observation | None = getattr(model, "_observation", None)
    if cached is not None and cached.step == model.steps:
        return cached
    docs, content = model.recent, model.content
    crawlers = model.crawlers
    flagged = np.concatenate([c.flagged for c in crawlers])
    synthetic = np.concatenate([c.synthetic for c in crawlers])
    precision, recall = M.precision_recall(flagged, synthetic)
    new = model.corpus.since(model.steps)  # the step's own block: published at this step
    assert new is not None  # every step publishes, step 0 the archive
    on_top = top_ranked_sites(model)[new.site]
    words, similarity_gain, homogenization = run_each(
        [
            partial(word_counts, docs.tokens, content.n_words),
            partial(assisted_similarity_gain, new, content.n_topics, content.n_words),
            model.humans.homogenization,
        ]
    )
    observation = Observation(
        step=model.steps,
        topic_counts=np.bincount(docs.topic, minlength=content.n_topics),
        word_counts=words,
        model_topic_probs=model_topic_probs(model),
        archive_topic_counts=archive_topic_counts(model),
        detector_precision=precision,
        detector_recall=recall,
        human_flag_rate=M.human_flag_rate(flagged, synthetic),
        new_profile=ai_profile(new.ai_fraction),
        top_ranked_profile=ai_profile(new.ai_fraction[on_top]),
        crawl_majority_ai=majority_ai_share(np.concatenate([c.ai_fraction for c in crawlers])),
        assisted_similarity_gain=similarity_gain,
        homogenization=homogenization,
    )
    model._observation = observation
    return observation


@dataclass(frozen=True)
class FitObservation:
    """What the metrics read from the models' fits, recomputed only when a model refits.

    `fits` holds weak references to the fitted word matrices it was computed from (compared
    by identity: a refit makes new ones). Weak, so that a refit frees the matrices it
    replaces at once: ten large models' old fits would otherwise outlive their refits.
    """

    fits: tuple[weakref.ref, ...]
    missing_mass: float  # p* mass of the cells the average model gives probability 0
    cross_entropy: float  # mean over models of the smoothed held-out cross-entropy
    support: np.ndarray  # (K,) words with nonzero probability per topic, average model

    def __getstate__(self) -> dict:
        """Pickled without its references (a model unpickled recomputes it once)."""
        return {**self.__dict__, "fits": ()}


def observe_fits(model: WebEcosystem) -> FitObservation:
    """The models' `FitObservation`, computed again only after a model has refitted (each
    model scores its own fit on the held-out documents when it refits, `AIModel.refit`)."""
    generators = [ai.generator for ai in model.ai_models]
    fits = tuple(g.word_probs_ for g in generators)
    cached: FitObservation | None = getattr(model, "_fit_observation", None)
    if (
        cached is not None
        and len(cached.fits) == len(fits)
        and all(a() is b for a, b in zip(cached.fits, fits, strict=True))
    ):
        return cached
    content = model.content
    topic_probs = np.stack([g.topic_probs_ for g in generators])
    support = M.joint_support(topic_probs, list(fits))
    observation = FitObservation(
        fits=tuple(weakref.ref(f) for f in fits),
        missing_mass=M.missing_mass(
            content.topic_probs, content.word_probs, support, content.word_prob_sums
        ),
        cross_entropy=float(np.mean([ai.cross_entropy for ai in model.ai_models])),
        support=M.support_per_topic(support, content.n_topics, content.n_words),
    )
    model._fit_observation = observation
    return observation


def word_counts(tokens: np.ndarray, n_words: int) -> np.ndarray:
    """(V,) occurrences of each word in `tokens` (a large run's window holds 6.4 M words: 24 ms,
    on a model thread beside the step's other costly observations, `observe`)."""
    return np.bincount(tokens.ravel(), minlength=n_words)


def archive_topic_counts(model: WebEcosystem) -> np.ndarray:
    """(K,) documents per topic of the pre-AI archive, counted once per model: the archive
    does not change."""
    cached: np.ndarray | None = getattr(model, "_archive_topic_counts", None)
    if cached is None:
        cached = np.bincount(model.archive.topic, minlength=model.content.n_topics)
        model._archive_topic_counts = cached
    return cached


def ai_bins(ai_fraction: np.ndarray) -> np.ndarray:
    """The AI-share bin (`PURE_HUMAN` … `PURE_AI`) of each document.

    Compared in float32, the type of `ai_fraction`, so that a share on an edge (1 word of 10
    is 10%) falls in the bin that the edge closes.
    """
    f = np.asarray(ai_fraction, dtype=np.float32)
    bins = np.searchsorted(AI_BIN_EDGES, f, side="left")
    bins[f >= 1] = PURE_AI
    return bins


def ai_profile(ai_fraction: np.ndarray) -> np.ndarray:
    """(7,) the documents' AI-share profile: the share in each bin (`PURE_HUMAN` … `PURE_AI`),
    then the share with f > 0.5 (`MOSTLY_AI`); NaN for no documents."""
    n = len(ai_fraction)
    if n == 0:
        return np.full(MOSTLY_AI + 1, np.nan)
    bins = np.bincount(ai_bins(ai_fraction), minlength=PURE_AI + 1) / n
    return np.append(bins, majority_ai_share(ai_fraction))


def majority_ai_share(ai_fraction: np.ndarray) -> float:
    """Share of the documents more than half model-written; NaN for no documents."""
    return float(np.mean(ai_fraction > MAJORITY_AI)) if len(ai_fraction) else float("nan")


def top_ranked_sites(model: WebEcosystem) -> np.ndarray:
    """(sites,) mask of the `TOP_RANKED` share of sites with the highest PageRank (at least
    one; ties broken by site index), computed once per model: the network does not change."""
    cached: np.ndarray | None = getattr(model, "_top_ranked", None)
    if cached is not None:
        return cached
    rank = model.network.pagerank
    n_top = max(1, int(np.ceil(TOP_RANKED * rank.size)))
    top = np.zeros(rank.size, dtype=bool)
    top[np.argsort(-rank, kind="stable")[:n_top]] = True
    model._top_ranked = top
    return top


def same_topic_similarity(
    topic: np.ndarray,
    tokens: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    n_topics: int,
    n_words: int,
) -> np.ndarray:
    """(n_groups,) mean cosine similarity of the word-count vectors of pairs of documents in
    the same group and on the same topic, pairs pooled over topics; NaN for a group without
    a pair.

    For unit vectors u_i, Σ_{i≠j} u_i·u_j = ‖Σ_i u_i‖² − n, so each (group, topic) cell needs
    only the sum of its documents' unit vectors: one sparse product, no loop over pairs.
    """
    n, length = tokens.shape
    # Each row's words sorted (int32: numpy's fast sort) make a CSR matrix without a COO sort.
    words = np.sort(tokens.astype(np.int32), axis=1).ravel()
    counts = sp.csr_array(
        (np.ones(n * length), words, np.arange(0, n * length + 1, length)), shape=(n, n_words)
    )
    counts.has_sorted_indices = True
    counts.sum_duplicates()  # word counts
    norms = np.sqrt(np.add.reduceat(counts.data**2, counts.indptr[:-1]))  # no empty row
    counts.data /= np.repeat(norms, np.diff(counts.indptr))  # rows: unit vectors
    cell = group * n_topics + topic  # (group, topic) of each document
    members = sp.csr_array((np.ones(n), (cell, np.arange(n))), shape=(n_groups * n_topics, n))
    sums = members @ counts  # row c: Σ u_i over the documents of cell c
    of_group = np.repeat(np.arange(n_groups * n_topics) // n_topics, np.diff(sums.indptr))
    squares = np.bincount(of_group, weights=sums.data**2, minlength=n_groups)
    cells = np.bincount(cell, minlength=n_groups * n_topics).reshape(n_groups, n_topics)
    pairs = (cells * (cells - 1.0)).sum(axis=1)
    total = squares - cells.sum(axis=1)
    return np.divide(total, pairs, out=np.full(n_groups, np.nan), where=pairs > 0)


def assisted_similarity_gain(docs: Documents, n_topics: int, n_words: int) -> float:
    """How much more alike human documents written with a model are than those without:
    the same-topic similarity (`same_topic_similarity`) of the human-authored documents with
    f > 0 divided by that of those with f = 0, minus 1 (Doshi & Hauser 2024; Padmakumar &
    He 2024); NaN when either group has no pair on a shared topic (or no unassisted pair
    shares a word).

    Of more than `SIMILARITY_SAMPLE` human documents, that many evenly spaced in publication
    order are compared (a systematic sample: no random draw, and a bounded cost per step).
    """
    human = np.flatnonzero(docs.author >= 0)
    if human.size > SIMILARITY_SAMPLE:
        human = human[np.linspace(0, human.size - 1, SIMILARITY_SAMPLE).astype(np.int64)]
    assisted = (docs.ai_fraction[human] > 0).astype(np.int64)
    cells = np.bincount(assisted * n_topics + docs.topic[human], minlength=2 * n_topics)
    if not (cells.reshape(2, n_topics) > 1).any(axis=1).all():
        return float("nan")  # a group without a pair: skip the word vectors
    plain, helped = same_topic_similarity(
        docs.topic[human], docs.tokens[human], assisted, 2, n_topics, n_words
    )
    return float(helped / plain - 1.0) if plain > 0 else float("nan")


def model_topic_probs(model: WebEcosystem) -> np.ndarray:
    """(models, topics): the topic distribution each AI model samples from."""
    return np.stack([ai.generator.topic_probs_ for ai in model.ai_models])


def topic_distributions(model: WebEcosystem) -> dict[str, np.ndarray]:
    """Topic shares of reality, the metrics window of the corpus and the average model."""
    counts = observe(model).topic_counts
    return {
        "reality": model.content.topic_probs,
        "corpus": counts / max(counts.sum(), 1),
        "models": observe(model).model_topic_probs.mean(axis=0),
    }


# What each metric of the registry reads (`simulation.registry` declares the metrics).


def ai_share(model: WebEcosystem) -> float:
    return float(model.ai_share) if model.steps > 0 else 0.0


def topic_richness(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 0)


def topic_hill1(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 1)


def topic_hill2(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 2)


def word_hill1(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).word_counts, 1)


def tail_mass(model: WebEcosystem) -> float:
    return M.tail_mass(observe(model).topic_counts, model.content.topic_probs, model.is_tail)


def tail_survival(model: WebEcosystem) -> float:
    return M.tail_survival(observe(model).model_topic_probs, model.is_tail)


def tail_distortion(model: WebEcosystem) -> float:
    return M.tail_distortion(observe(model).topic_counts, model.content.topic_probs, model.is_tail)


def js_divergence(model: WebEcosystem) -> float:
    return M.js_divergence(observe(model).topic_counts, model.content.topic_probs)


def js_divergence_archive(model: WebEcosystem) -> float:
    observation = observe(model)
    return M.js_divergence(observation.topic_counts, observation.archive_topic_counts)


def hellinger(model: WebEcosystem) -> float:
    return M.hellinger(observe(model).topic_counts, model.content.topic_probs)


def missing_mass(model: WebEcosystem) -> float:
    return observe_fits(model).missing_mass


def cross_entropy(model: WebEcosystem) -> float:
    return observe_fits(model).cross_entropy


def tail_word_support(model: WebEcosystem) -> float:
    return float(observe_fits(model).support[model.is_tail].mean())


def head_word_support(model: WebEcosystem) -> float:
    return float(observe_fits(model).support[~model.is_tail].mean())


def synthetic_share(model: WebEcosystem) -> float:
    docs = model.recent
    return float(docs.synthetic.mean()) if len(docs) else float("nan")


def synthetic_token_share(model: WebEcosystem) -> float:
    docs = model.recent
    return M.token_share(docs.ai_fraction, np.full(len(docs), docs.tokens.shape[1]))


def train_synthetic_share(model: WebEcosystem) -> float:
    return float(np.mean([ai.train_synthetic_share for ai in model.ai_models]))


def train_synthetic_token_share(model: WebEcosystem) -> float:
    return float(np.mean([ai.train_token_share for ai in model.ai_models]))


def precision(model: WebEcosystem) -> float:
    return observe(model).detector_precision


def recall(model: WebEcosystem) -> float:
    return observe(model).detector_recall


def human_flag_rate(model: WebEcosystem) -> float:
    return observe(model).human_flag_rate


def assist(model: WebEcosystem) -> float:
    return float(model.humans.assist.mean())


def homogenization(model: WebEcosystem) -> float:
    return observe(model).homogenization


def new_share(entry: int, model: WebEcosystem) -> float:
    """Entry `entry` of the AI-share profile of the documents published at this step."""
    return float(observe(model).new_profile[entry])


def crawl_majority_ai_share(model: WebEcosystem) -> float:
    return observe(model).crawl_majority_ai


def top_ranked_share(entry: int, model: WebEcosystem) -> float:
    """Entry `entry` of the AI-share profile of this step's documents on top-ranked sites."""
    return float(observe(model).top_ranked_profile[entry])


def similarity_gain(model: WebEcosystem) -> float:
    return observe(model).assisted_similarity_gain
