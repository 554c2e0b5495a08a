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

    def __init__(
        self,
        config: Filtering,
        is_tail: np.ndarray,
        human_site: np.ndarray,
        reality_tail_share: float = 0.2,
    ):
        self.config = config
        self.is_tail = is_tail
        self.human_site = human_site
        # The tail's share of every kept crawl under tail protection (7.9, step 5).
        self.tail_share = config.tail_share if config.tail_share is not None else reality_tail_share

    def apply(
        self, crawled: Documents, archive: Documents, rng: np.random.Generator
    ) -> FilterResult:
        """Detector and provenance drop documents; tail protection rescues verified human tail
        documents; the human reserve swaps a share for archive documents; last, under tail
        protection, the kept set is reweighted so that tail topics hold exactly the tail
        share (`filtering.tail_share`, or reality's own) of it."""
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
        if cfg.protect_tail:
            keep |= self.is_tail[crawled.topic] & self.human_site[crawled.site]
        kept_idx = np.flatnonzero(keep)
        if cfg.human_reserve > 0 and len(archive):
            n_total = kept_idx.size
            n_reserve = int(round(cfg.human_reserve * n_total))
            own = rng.choice(kept_idx, size=n_total - n_reserve, replace=False)
            kept_idx = np.sort(own)
            reserve_idx = rng.choice(len(archive), size=n_reserve, replace=n_reserve > len(archive))
            kept = Documents.concat([crawled.take(kept_idx), archive.take(reserve_idx)])
        else:
            kept = crawled.take(kept_idx)
        if cfg.protect_tail:
            weights = tail_share_weights(self.is_tail[kept.topic], self.tail_share)
        else:
            weights = np.ones(len(kept))
        return FilterResult(
            kept=kept, weights=weights, flagged=flagged, synthetic=crawled.synthetic
        )


def tail_share_weights(on_tail: np.ndarray, share: float) -> np.ndarray:
    """Training weights under which tail-topic documents hold exactly `share` of the weight.

    Every tail document gets `share · n / n_tail`, every head document `(1 − share) · n /
    n_head`: the total stays `n` (a crawl counts by its size, as without the policy), and
    within a topic all documents keep equal weights, so only the tail's topic mass changes,
    never a topic's word distribution. Each crawl is reweighted once, from its own counts, so
    under `accumulate` the pooled tail share is `share` too and nothing compounds. A crawl
    with no tail or no head documents cannot be moved to `share` and keeps weights 1.
    """
    on_tail = np.asarray(on_tail, dtype=bool)
    n = on_tail.size
    n_tail = int(np.count_nonzero(on_tail))
    if n_tail in (0, n):
        return np.ones(n)
    return np.where(on_tail, share * n / n_tail, (1.0 - share) * n / (n - n_tail))


@dataclass
class TrainingStats:
    """Sufficient statistics of a training set, plus how synthetic it is: by weight of
    documents (`synthetic_weight`: model-published ones) and by weight of tokens
    (`model_tokens`: Σ weight · ai_fraction · length, so assisted human words count too)."""

    topic_counts: np.ndarray
    word_counts: sp.csr_array
    synthetic_weight: float
    total_weight: float
    model_tokens: float = 0.0
    total_tokens: float = 0.0

    def __add__(self, other: TrainingStats) -> TrainingStats:
        return TrainingStats(
            self.topic_counts + other.topic_counts,
            self.word_counts + other.word_counts,
            self.synthetic_weight + other.synthetic_weight,
            self.total_weight + other.total_weight,
            self.model_tokens + other.model_tokens,
            self.total_tokens + other.total_tokens,
        )

    @property
    def synthetic_share(self) -> float:
        """Model-published share of the training weight, by document."""
        return self.synthetic_weight / self.total_weight if self.total_weight else float("nan")

    @property
    def model_token_share(self) -> float:
        """Model-written share of the training weight, by token (assisted words included)."""
        return self.model_tokens / self.total_tokens if self.total_tokens else float("nan")


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
        length = docs.tokens.shape[1] if docs.tokens.ndim == 2 else 0
        return TrainingStats(
            topic_counts,
            word_counts,
            synthetic_weight,
            float(weights.sum()),
            model_tokens=float(weights @ docs.ai_fraction.astype(np.float64)) * length,
            total_tokens=float(weights.sum()) * length,
        )

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
        """Statistics of the data the next fit uses, under this pool's regime."""
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
