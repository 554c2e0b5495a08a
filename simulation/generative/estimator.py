"""TopicWordModel: a generative model of (topic, words) documents, as a scikit-learn estimator.

`fit` (or `fit_counts`, from sufficient statistics) counts the topic distribution and the
word distribution of every topic, then shapes the latter for decoding (capacity, temperature,
nucleus); `sample` draws documents through the sampling tables, `score` is the mean
log-likelihood per word (higher is better, as scikit-learn's) and `cross_entropy` its
negative. It follows scikit-learn's conventions: the constructor only stores its parameters,
they are validated when fitting, fitted attributes end in "_", and using a model before
fitting it raises `NotFittedError`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from simulation.generative.sparse import (
    _csr,
    _mask_entries,
    as_csr,
    column_sums,
    count_documents,
    fill_rows,
    lookup,
    normalise,
    nucleus,
    top_k,
)
from simulation.generative.tables import sampler

PROB_FLOOR = 1e-9  # scoring floor: a word the model lost costs -log(1e-9) ≈ 20.7 nats


class NotFittedError(ValueError, AttributeError):
    """A model was used before it was fitted (a ValueError and an AttributeError, as
    scikit-learn's, so that callers catching either keep working)."""


def check_is_fitted(estimator, attributes: str | Iterable[str]) -> None:
    """Raise `NotFittedError` unless `estimator` has every one of the fitted `attributes`."""
    names = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    missing = [name for name in names if not hasattr(estimator, name)]
    if missing:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet (no "
            f"{', '.join(missing)}): call 'fit' or 'fit_counts' before using it."
        )


class TopicWordModel:
    """Unigram topic-word model: p(topic) and p(word | topic), shaped for generation.

    Parameters (mirroring the scenario's `models` section) are stored as given and validated
    by `fit` and `fit_counts`:

    - `n_topics`, `n_words`: K topics and a vocabulary of V words, both at least 1.
    - `smoothing` (>= 0): pseudo-count added to every topic and every (topic, word) cell.
    - `temperature` (> 0): p(word | topic) ** (1 / temperature), renormalised per topic;
      below 1 sharpens.
    - `top_p` (0 < top_p <= 1): per topic, keep the nucleus of most probable words holding
      top_p of the (tempered) mass.
    - `capacity` (None, or 1..n_words): keep at most this many words per topic.

    Temperature and `top_p` are decoding settings: they act on tokens, the words drawn given
    the topic, as an LLM's decoder acts on its next-token distribution. The topic of a
    document is what it is asked to write about, not a token it decodes, so `topic_probs_` is
    the counted (add-`smoothing`) topic distribution, never tempered or truncated.

    Fitted attributes: `topic_probs_` (K,) and `word_probs_` (a K x V scipy CSR matrix of the
    kept words), the distributions the model samples from, and `topic_table_`, `word_table_`,
    their sampling tables (`simulation.generative.tables`).
    """

    def __init__(
        self,
        n_topics: int,
        n_words: int,
        *,
        smoothing: float = 0.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        capacity: int | None = None,
    ):
        self.n_topics = n_topics
        self.n_words = n_words
        self.smoothing = smoothing
        self.temperature = temperature
        self.top_p = top_p
        self.capacity = capacity

    def _validate_params(self) -> None:
        """Raise ValueError for parameters outside their ranges (see the class docstring)."""
        if self.n_topics < 1 or self.n_words < 1:
            raise ValueError("n_topics and n_words must be positive")
        if self.smoothing < 0 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("need smoothing >= 0, temperature > 0 and 0 < top_p <= 1")
        if self.capacity is not None and not 1 <= self.capacity <= self.n_words:
            raise ValueError("capacity must be between 1 and n_words")

    def fit(self, topics: np.ndarray, tokens: np.ndarray, weights=None) -> TopicWordModel:
        """Fit on documents: `topics` (n,), `tokens` (n, L), optional per-document weights."""
        self._validate_params()
        topic_counts, word_counts = count_documents(
            topics, tokens, self.n_topics, self.n_words, weights
        )
        return self._fit_counts(topic_counts, word_counts)

    def fit_counts(self, topic_counts: np.ndarray, word_counts) -> TopicWordModel:
        """Fit from sufficient statistics: documents per topic (K,) and words per topic (K, V),
        the latter dense or a scipy sparse matrix."""
        self._validate_params()
        return self._fit_counts(topic_counts, word_counts)

    def _fit_counts(self, topic_counts: np.ndarray, word_counts) -> TopicWordModel:
        """`fit_counts` once the parameters are validated."""
        topic_counts = np.asarray(topic_counts, dtype=np.float64)
        counts = as_csr(word_counts)
        if topic_counts.shape != (self.n_topics,) or counts.shape != (
            self.n_topics,
            self.n_words,
        ):
            raise ValueError("count shapes do not match (n_topics,) and (n_topics, n_words)")
        if topic_counts.sum() <= 0 and self.smoothing == 0:
            raise ValueError("cannot fit on an empty training set without smoothing")
        for name in ("word_probs_", "topic_table_", "word_table_"):  # the last fit's, freed
            self.__dict__.pop(name, None)  # before the new one is built: less at the peak
        topic_p = topic_counts + self.smoothing  # counted shares: decoding leaves them alone
        topic_p *= 1.0 / topic_p.sum()
        word_p = counts
        if self.smoothing > 0:  # every word gets mass: the support is the whole vocabulary
            word_p = as_csr(counts.toarray() + self.smoothing)
        if self.capacity is not None and self.capacity < self.n_words:
            word_p = top_k(word_p, self.capacity)
        word_p = self._decode(word_p)
        # A topic the model never saw is written with its generic (marginal) vocabulary.
        empty = np.diff(word_p.indptr) == 0
        if empty.any():
            marginal = column_sums(counts) + self.smoothing
            if marginal.sum() <= 0:
                marginal = np.ones(self.n_words)
            words = np.flatnonzero(marginal)
            word_p = fill_rows(word_p, empty, words, marginal[words] / marginal.sum())
        self.topic_probs_ = topic_p
        self.word_probs_ = word_p
        self.topic_table_ = sampler(as_csr(topic_p))
        self.word_table_ = sampler(word_p)
        return self

    def _decode(self, weights: sp.csr_array) -> sp.csr_array:
        """The per-topic word distributions a decoder samples from: row-normalise, sharpen or
        flatten by temperature, then truncate each row to its nucleus and renormalise."""
        p = normalise(weights)
        if self.temperature != 1.0:
            p = normalise(_csr(p.data ** (1.0 / self.temperature), p.indices, p.indptr, p.shape))
        p = normalise(nucleus(p, self.top_p))
        if not p.data.all():  # (`count_nonzero` would hold the GIL)
            p = _mask_entries(p, p.data > 0)
        return p

    def sample_topics(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `n` topics."""
        check_is_fitted(self, "topic_table_")
        return self.topic_table_.sample(np.zeros(1, dtype=np.int64), n, rng)[0]

    def sample_words(self, topics: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `length` words for each document topic: shape (len(topics), length)."""
        check_is_fitted(self, "word_table_")
        return self.word_table_.sample(topics, length, rng)

    def sample(
        self, n: int, length: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` documents of `length` words: (topics, tokens)."""
        check_is_fitted(self, ("topic_table_", "word_table_"))
        topics = self.sample_topics(n, rng)
        return topics, self.sample_words(topics, length, rng)

    def score(self, topics: np.ndarray, tokens: np.ndarray) -> float:
        """Mean log-likelihood in nats per word of the documents (the topic's log-probability
        spread over its words): higher is better, as scikit-learn's `score`.

        Probabilities are floored at PROB_FLOOR (1e-9), so a word the model lost costs
        ~20.7 nats rather than making the score -inf.
        """
        check_is_fitted(self, ("topic_probs_", "word_probs_"))
        topics = np.asarray(topics, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        p_topic = np.maximum(self.topic_probs_[topics], PROB_FLOOR)
        word_rows = np.broadcast_to(topics[:, None], tokens.shape)
        p_word = np.maximum(lookup(self.word_probs_, word_rows, tokens), PROB_FLOOR)
        nats = -np.log(p_topic).sum() - np.log(p_word).sum()
        return -float(nats / tokens.size)  # negated last: -score is the cross-entropy exactly

    def cross_entropy(self, topics: np.ndarray, tokens: np.ndarray) -> float:
        """Mean cross-entropy in nats per word of the documents: lower is better.

        Exactly `-score(topics, tokens)`, with the same 1e-9 probability floor.
        """
        check_is_fitted(self, ("topic_probs_", "word_probs_"))
        return -self.score(topics, tokens)
