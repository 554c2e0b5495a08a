"""Diversity and divergence metrics: pure, vectorised functions of counts or probabilities."""

from __future__ import annotations

from functools import partial

import numpy as np
import scipy.sparse as sp

from simulation.generative import lookup
from simulation.threads import parts, run_each

SURVIVAL_THRESHOLD = 1e-9
# Weight of the back-off in the smoothed evaluation of a model (`smoothed_cross_entropy`).
EVAL_INTERPOLATION = 0.1


def _as_probs(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if np.any(counts < 0):
        raise ValueError("counts must be non-negative")
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def hill_number(counts: np.ndarray, q: float) -> float:
    """Hill number of order q (effective number of categories) of a count vector.

    q=0 is richness, q=1 the exponential of Shannon entropy, q=2 the inverse Simpson index.
    """
    p = _as_probs(counts)
    p = p[p > 0]
    if p.size == 0:
        return 0.0
    if q == 0:
        return float(p.size)
    if q == 1:
        return float(np.exp(-np.sum(p * np.log(p))))
    return float(np.sum(p**q) ** (1.0 / (1.0 - q)))


def gini_simpson(counts: np.ndarray) -> float:
    """Gini–Simpson diversity 1 − Σ p²: the chance two draws differ (the Wright–Fisher H)."""
    p = _as_probs(counts)
    return float(1.0 - np.sum(p * p)) if p.sum() > 0 else 0.0


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (0 = identical, 1 = disjoint)."""
    p, q = _as_probs(p), _as_probs(q)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance in [0, 1]."""
    p, q = _as_probs(p), _as_probs(q)
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q)))))


def tail_mass(topic_counts: np.ndarray, reality: np.ndarray, is_tail: np.ndarray) -> float:
    """Share of documents on tail topics relative to reality's tail share (1 = as in p*)."""
    p = _as_probs(topic_counts)
    return float(p[is_tail].sum() / np.asarray(reality)[is_tail].sum())


def tail_distortion(topic_counts: np.ndarray, reality: np.ndarray, is_tail: np.ndarray) -> float:
    """|ln(tail share / p*'s tail share)|: 0 as in reality, the same for a tail r times too
    large or r times too small. An empty tail counts as half a document (finite, not ∞)."""
    counts = np.asarray(topic_counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    share = max(counts[is_tail].sum(), 0.5) / total
    return float(abs(np.log(share / np.asarray(reality)[is_tail].sum())))


def token_share(ai_fraction: np.ndarray, lengths: np.ndarray, weights=None) -> float:
    """Model-written share of the tokens: Σ w·ai_fraction·length / Σ w·length (NaN if none)."""
    tokens = np.asarray(lengths, dtype=np.float64)
    if weights is not None:
        tokens = tokens * np.asarray(weights, dtype=np.float64)
    total = tokens.sum()
    return (
        float(tokens @ np.asarray(ai_fraction, dtype=np.float64) / total) if total else float("nan")
    )


def joint_support(topic_probs: np.ndarray, word_probs: list[sp.csr_array]) -> np.ndarray:
    """Sorted keys `topic · V + word` of the (topic, word) cells the average of the models
    gives nonzero probability: those where some model m has p_m(topic) > 0 and
    p_m(word | topic) > 0.

    The topics are cut into ranges (`threads.parts`) found side by side on the model threads:
    each marks every model's cells of its topics in a mask of its own and reads the mask out
    in order, so the keys come out sorted, with no sort.
    """
    topic_probs = np.atleast_2d(topic_probs)
    if not word_probs:
        return np.zeros(0, dtype=np.int64)
    n_topics, n_words = word_probs[0].shape
    models = [(p, sp.csr_array(w)) for p, w in zip(topic_probs, word_probs, strict=True)]
    ranges = parts(n_topics, n_words)
    return np.concatenate(run_each(partial(_support_of, models, topics) for topics in ranges))


def _support_of(models: list[tuple[np.ndarray, sp.csr_array]], topics: slice) -> np.ndarray:
    """`joint_support`'s keys among the topics of one range."""
    n_words = models[0][1].shape[1]
    covered = np.zeros((topics.stop - topics.start) * n_words, dtype=bool)
    for topic_probs, word_probs in models:
        covered[_live_cells(topic_probs, word_probs, topics)] = True
    keys = np.flatnonzero(covered).astype(np.int64)
    keys += topics.start * n_words
    return keys


def _live_cells(topic_probs: np.ndarray, word_probs: sp.csr_array, topics: slice) -> np.ndarray:
    """Keys `(topic − topics.start) · V + word` of the cells among `topics` to which one model
    gives nonzero probability."""
    n_words = word_probs.shape[1]
    indptr = word_probs.indptr[topics.start : topics.stop + 1]
    entries = slice(indptr[0], indptr[-1])
    n_cells = (topics.stop - topics.start) * n_words
    key_type = np.int32 if n_cells < 2**31 else np.int64
    rows = np.repeat(np.arange(topics.stop - topics.start, dtype=key_type), np.diff(indptr))
    keys = rows * key_type(n_words) + word_probs.indices[entries]
    live_topics, data = topic_probs[topics] > 0, word_probs.data[entries]
    if np.all(live_topics) and np.all(data > 0):
        return keys
    return keys[live_topics[rows] & (data > 0)]


def missing_mass(
    reality_topics: np.ndarray,
    reality_words: np.ndarray,
    support: np.ndarray,
    reality_word_sums: np.ndarray | None = None,
) -> float:
    """Σ p*(topic, word) over the cells outside `support` (keys from `joint_support`): the
    share of real text the average model cannot produce at all.

    Per topic, the words outside the support hold p*(w | topic)'s total less the covered
    words' mass (exactly 0 for a fully covered topic); weighted by p*(topic). Only the
    support is gathered: no K x V product per fit. `reality_word_sums`, the totals
    `reality_words.sum(axis=1)`, may be passed when known (a world keeps them: they do not
    change from fit to fit).
    """
    words = np.asarray(reality_words, dtype=np.float64)
    n_topics, n_words = words.shape
    if reality_word_sums is None:
        reality_word_sums = words.sum(axis=1)
    per_topic = support_per_topic(support, n_topics, n_words)
    rows = np.repeat(np.arange(n_topics), per_topic)  # the topic of each key (keys are sorted)
    covered = np.bincount(rows, weights=words.ravel().take(support), minlength=n_topics)
    full = per_topic == n_words
    outside = np.where(full, 0.0, np.maximum(reality_word_sums - covered, 0.0))
    return float(np.asarray(reality_topics, dtype=np.float64) @ outside)


def support_per_topic(support: np.ndarray, n_topics: int, n_words: int) -> np.ndarray:
    """Number of words with nonzero probability in each topic (K,), from `joint_support` keys
    (sorted: each topic's keys are a run, found by bisection)."""
    return np.diff(np.searchsorted(support, np.arange(n_topics + 1, dtype=np.int64) * n_words))


def smoothed_cross_entropy(
    topic_probs: np.ndarray,
    word_probs: sp.csr_array,
    topics: np.ndarray,
    tokens: np.ndarray,
    interpolation: float = EVAL_INTERPOLATION,
) -> float:
    """Cross-entropy in nats per word of documents under a smoothed evaluation of a model.

    With λ = `interpolation`, topics are scored by (1−λ)·p(k) + λ/K, words by
    (1−λ)·p(w | k) + λ·u(w), where u = (1−λ)·Σ_k p(k)·p(w | k) + λ/V is the model's own
    unigram backed off to uniform (Jelinek–Mercer interpolation). The topic's cost is spread
    over the document's words, as in `TopicWordModel.cross_entropy`. A word the model lost
    everywhere costs ln(V/λ²) nats rather than the 20.7 of a 1e-9 floor, and a word lost in
    one topic but used in others costs what the model's unigram says.
    """
    topic_probs = np.asarray(topic_probs, dtype=np.float64)
    word_probs = sp.csr_array(word_probs)
    n_topics, n_words = word_probs.shape
    lam = interpolation
    topics = np.asarray(topics, dtype=np.int64)
    tokens = np.asarray(tokens, dtype=np.int64)
    unigram = (1 - lam) * (topic_probs @ word_probs) + lam / n_words
    p_topic = (1 - lam) * topic_probs[topics] + lam / n_topics
    rows = np.broadcast_to(topics[:, None], tokens.shape)
    p_word = (1 - lam) * lookup(word_probs, rows, tokens) + lam * unigram[tokens]
    return float((-np.log(p_topic).sum() - np.log(p_word).sum()) / tokens.size)


def tail_survival(model_topic_probs: np.ndarray, is_tail: np.ndarray) -> float:
    """Share of tail topics to which the average model gives probability above 1e-9."""
    mean = np.atleast_2d(model_topic_probs).mean(axis=0)
    return float(np.mean(mean[is_tail] > SURVIVAL_THRESHOLD))


def mean_cosine_similarity(topics: np.ndarray, weights: np.ndarray, n_topics: int) -> float:
    """Mean pairwise cosine similarity of sparse mixtures (rows of topic ids and weights).

    Uses |Σ uᵢ|² = N + Σ_{i≠j} uᵢ·uⱼ for unit vectors uᵢ: O(N·I), not O(N²).
    """
    topics = np.asarray(topics)
    weights = np.asarray(weights, dtype=np.float64)
    n = topics.shape[0]
    if n < 2:
        return float("nan")
    same = topics[:, :, None] == topics[:, None, :]
    norms = np.sqrt(np.einsum("ni,nj,nij->n", weights, weights, same))
    unit = weights / norms[:, None]
    total = np.bincount(topics.ravel(), weights=unit.ravel(), minlength=n_topics)
    return float((total @ total - n) / (n * (n - 1)))


def human_flag_rate(flagged: np.ndarray, synthetic: np.ndarray) -> float:
    """Share of human-authored documents (assisted ones included) the detector flagged."""
    human = ~np.asarray(synthetic, dtype=bool)
    n_human = np.count_nonzero(human)
    if not n_human:
        return float("nan")
    return float(np.count_nonzero(np.asarray(flagged, dtype=bool) & human) / n_human)


def precision_recall(flagged: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """Detector precision and recall against ground truth (NaN where undefined)."""
    flagged = np.asarray(flagged, dtype=bool)
    synthetic = np.asarray(synthetic, dtype=bool)
    tp = np.count_nonzero(flagged & synthetic)
    n_flag = np.count_nonzero(flagged)
    n_syn = np.count_nonzero(synthetic)
    precision = tp / n_flag if n_flag else float("nan")
    recall = tp / n_syn if n_syn else float("nan")
    return precision, recall
