"""Diversity and divergence metrics: pure, vectorised functions of counts or probabilities."""

from __future__ import annotations

import numpy as np

SURVIVAL_THRESHOLD = 1e-9


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
