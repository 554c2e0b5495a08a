"""Data-curation policies (detector, provenance, human reserve, tail protection) and the
TrainingPool that turns filtered crawls into training statistics under a data regime.

All are small classes or pure functions of arrays, testable without a model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from simulation.corpus import Documents
from simulation.generative import count_documents
from simulation.scenario import Filtering


def flag_probability(
    synthetic: np.ndarray, ai_fraction: np.ndarray, tpr: float, fpr: float
) -> np.ndarray:
    """Chance the detector flags each document.

    Synthetic documents are flagged with `tpr`; a human document whose share f of words came
    from a model is flagged with fpr + (tpr − fpr)·f, rising from `fpr` for pure human text.
    """
    return np.where(synthetic, tpr, fpr + (tpr - fpr) * ai_fraction)


def passed_human_share(ai_share: float, tpr: float, fpr: float) -> float:
    """Theory: the human share of what passes the detector, (1−a)(1−fpr)/[(1−a)(1−fpr)+a(1−tpr)]."""
    human = (1 - ai_share) * (1 - fpr)
    synthetic = ai_share * (1 - tpr)
    return human / (human + synthetic) if human + synthetic > 0 else float("nan")


@dataclass(frozen=True)
class FilterResult:
    """The outcome of filtering one crawl."""

    kept: Documents
    weights: np.ndarray  # (len(kept),) training weight of each kept document
    flagged: np.ndarray  # (len(crawled),) detector decision on every crawled document
    synthetic: np.ndarray  # (len(crawled),) ground truth of every crawled document


class CrawlFilter:
    """Applies the scenario's filtering policies to a crawl."""

    def __init__(self, config: Filtering, is_tail: np.ndarray, human_site: np.ndarray):
        self.config = config
        self.is_tail = is_tail
        self.human_site = human_site

    def apply(
        self, crawled: Documents, archive: Documents, rng: np.random.Generator
    ) -> FilterResult:
        """Detector and provenance drop documents; tail protection rescues and up-weights
        verified human tail documents; the human reserve swaps a share for archive documents."""
        cfg = self.config
        n = len(crawled)
        if cfg.detector is not None:
            p_flag = flag_probability(
                crawled.synthetic, crawled.ai_fraction, cfg.detector.tpr, cfg.detector.fpr
            )
            flagged = rng.random(n) < p_flag
        else:
            flagged = np.zeros(n, dtype=bool)
        keep = ~flagged
        if cfg.provenance.honored:
            keep &= ~crawled.labeled
        weights = np.ones(n)
        if cfg.protect_tail:
            protected = self.is_tail[crawled.topic] & self.human_site[crawled.site]
            keep |= protected
            weights[protected] = cfg.tail_weight
        kept_idx = np.flatnonzero(keep)
        if cfg.human_reserve > 0 and len(archive):
            n_total = kept_idx.size
            n_reserve = int(round(cfg.human_reserve * n_total))
            own = rng.choice(kept_idx, size=n_total - n_reserve, replace=False)
            kept_idx = np.sort(own)
            reserve_idx = rng.choice(len(archive), size=n_reserve, replace=n_reserve > len(archive))
            kept = Documents.concat([crawled.take(kept_idx), archive.take(reserve_idx)])
            weights = np.concatenate([weights[kept_idx], np.ones(n_reserve)])
        else:
            kept = crawled.take(kept_idx)
            weights = weights[kept_idx]
        return FilterResult(
            kept=kept, weights=weights, flagged=flagged, synthetic=crawled.synthetic
        )


@dataclass
class TrainingStats:
    """Sufficient statistics of a training set, plus how synthetic it is."""

    topic_counts: np.ndarray
    word_counts: sp.csr_array
    synthetic_weight: float
    total_weight: float

    def __add__(self, other: TrainingStats) -> TrainingStats:
        return TrainingStats(
            self.topic_counts + other.topic_counts,
            self.word_counts + other.word_counts,
            self.synthetic_weight + other.synthetic_weight,
            self.total_weight + other.total_weight,
        )

    @property
    def synthetic_share(self) -> float:
        return self.synthetic_weight / self.total_weight if self.total_weight else float("nan")


class TrainingPool:
    """What a model trains on, given each crawl's filtered documents and a data regime.

    `replace` keeps the latest crawl, `accumulate` all crawls (as running sparse counts: the
    cost is O(support)), `window` the last `window` crawls, `subsample` pools every crawl's
    documents and draws a fixed budget of them for each fit (accumulate-subsample).
    """

    def __init__(
        self, regime: str, n_topics: int, n_words: int, *, window: int = 4, budget: int = 60000
    ):
        if regime not in ("replace", "accumulate", "window", "subsample"):
            raise ValueError(f"unknown regime {regime!r}")
        self.regime = regime
        self.n_topics = n_topics
        self.n_words = n_words
        self.budget = budget
        self._recent: deque[TrainingStats] = deque(maxlen=window if regime == "window" else 1)
        self._total: TrainingStats | None = None
        self._pool: list[tuple[Documents, np.ndarray]] = []

    def _stats(self, docs: Documents, weights: np.ndarray) -> TrainingStats:
        topic_counts, word_counts = count_documents(
            docs.topic, docs.tokens, self.n_topics, self.n_words, weights
        )
        synthetic_weight = float(weights[docs.synthetic].sum())
        return TrainingStats(topic_counts, word_counts, synthetic_weight, float(weights.sum()))

    def add(self, docs: Documents, weights: np.ndarray) -> None:
        """Add one crawl's filtered documents."""
        if self.regime == "subsample":
            self._pool.append((docs, weights))
        elif self.regime == "accumulate":
            stats = self._stats(docs, weights)
            self._total = stats if self._total is None else self._total + stats
        else:
            self._recent.append(self._stats(docs, weights))

    def training_set(self, rng: np.random.Generator) -> TrainingStats:
        """Statistics of the data the next fit uses."""
        if self.regime == "subsample":
            if not self._pool:
                raise RuntimeError("training pool is empty")
            docs = Documents.concat([d for d, _ in self._pool])
            weights = np.concatenate([w for _, w in self._pool])
            if len(docs) > self.budget:
                pick = np.sort(rng.choice(len(docs), size=self.budget, replace=False))
                docs, weights = docs.take(pick), weights[pick]
            return self._stats(docs, weights)
        if self.regime == "accumulate":
            if self._total is None:
                raise RuntimeError("training pool is empty")
            return self._total
        if not self._recent:
            raise RuntimeError("training pool is empty")
        total = self._recent[0]
        for stats in list(self._recent)[1:]:
            total = total + stats
        return total
