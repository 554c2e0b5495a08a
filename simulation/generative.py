"""TopicWordModel: a generative model of (topic, words) documents with a scikit-learn-like API.

`fit` counts, `sample` draws documents through Walker/Vose alias tables (two gathers per word),
`score` returns the cross-entropy in nats per word. Smoothing, capacity, temperature and top-p
shape the sampling distribution; the alias tables are rebuilt only when the model refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROB_FLOOR = 1e-9


@dataclass(frozen=True)
class AliasTable:
    """Row-wise alias tables for a (rows, n) matrix of distributions, stored flat."""

    prob: np.ndarray  # (rows*n,) float64: probability of keeping the column itself
    alias: np.ndarray  # (rows*n,) int: the column used otherwise
    n: int

    @classmethod
    def build(cls, p: np.ndarray) -> AliasTable:
        """Build tables for every row of `p` at once (all-zero rows become uniform).

        Vectorised Vose: smalls (q<1) take their deficit from the large whose stretch of
        the cumulative-excess "tape" holds the start of their own cumulative deficit; a large
        whose excess runs out mid-way becomes small and borrows from the next large. The
        pairing is one stable merge of the two sorted tapes, and the work is in place: a
        1000 x 20000 table takes well under a second.
        """
        p = np.atleast_2d(np.asarray(p, dtype=np.float64))
        rows, n = p.shape
        total = p.sum(axis=1)
        q = p * (n / np.where(total > 0, total, 1.0))[:, None]
        q[total <= 0] = 1.0
        small = q < 1.0
        small[np.arange(rows), np.argmax(q, axis=1)] = False  # every row keeps a large
        flat_small = np.flatnonzero(small)
        flat_large = np.flatnonzero(~small)
        n_large = n - np.count_nonzero(small, axis=1)  # per row
        del small
        # Row offsets (rows 2n+2 apart, tapes at most n long) make the per-row cumulative
        # tapes one globally sorted sequence.
        offset = (np.arange(rows, dtype=np.float64) * (2.0 * n + 2.0))[:, None]
        tape = np.subtract(1.0, q)
        deficit = tape.ravel()[flat_small]
        np.maximum(tape, 0.0, out=tape)
        np.cumsum(tape, axis=1, out=tape)
        tape += offset
        d_end = tape.ravel()[flat_small]
        d_start = d_end - deficit
        q -= 1.0
        np.maximum(q, 0.0, out=q)
        np.cumsum(q, axis=1, out=q)
        q += offset
        e_end = q.ravel()[flat_large]
        del q
        # Merge the tapes (stretch ends first on ties): each small learns how many stretches
        # end at or before its deficit starts; each large, how many deficits start before
        # its stretch ends.
        order = np.argsort(np.concatenate([e_end, d_start]), kind="stable")
        is_large = order < e_end.size
        del order
        # Both tapes keep their own order in the merge, so position minus rank counts the other.
        j = np.flatnonzero(~is_large)
        j -= np.arange(j.size)
        straddler = np.flatnonzero(is_large)  # the last small starting before the end, or -1
        straddler -= np.arange(1, straddler.size + 1)
        del is_large
        last_large = np.cumsum(n_large) - 1  # per row: index of its last large
        np.minimum(j, np.repeat(last_large, n - n_large), out=j)
        cols = np.tile(np.arange(n, dtype=np.uint16 if n <= 65536 else np.uint32), rows)
        large_col = cols[flat_large]
        own = tape.ravel()
        own.fill(1.0)
        own[flat_small] = 1.0 - deficit
        cols[flat_small] = large_col[j]
        # A large whose stretch ends inside a small's deficit gives that small all of it and
        # borrows the shortfall from the next large of its row.
        fail = np.flatnonzero(straddler >= 0)
        shortfall = d_end[straddler[fail]] - e_end[fail]
        ok = (shortfall > 0) & (fail < last_large[flat_large[fail] // n])
        fail, shortfall = fail[ok], shortfall[ok]
        own[flat_large[fail]] = np.maximum(1.0 - shortfall, 0.0)
        cols[flat_large[fail]] = large_col[fail + 1]
        return cls(prob=own, alias=cols, n=n)

    def sample(self, rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` columns for each entry of `rows`: shape (len(rows), size)."""
        x = rng.random((len(rows), size)) * self.n
        col = x.astype(np.int64)
        np.minimum(col, self.n - 1, out=col)
        flat = col + (np.asarray(rows, dtype=np.int64) * self.n)[:, None]
        keep = (x - col) < self.prob[flat]
        return np.where(keep, col, self.alias[flat]).astype(self.alias.dtype)

    def implied(self) -> np.ndarray:
        """The distributions the tables sample from (rows, n): for testing exactness."""
        rows = self.prob.size // self.n
        out = self.prob.reshape(rows, self.n).copy()
        give = (1.0 - self.prob).reshape(rows, self.n)
        row_idx = np.repeat(np.arange(rows), self.n)
        np.add.at(out, (row_idx, self.alias.astype(np.int64)), give.ravel())
        return out / self.n


def nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """Keep, per row, the smallest set of largest entries whose mass reaches `top_p`."""
    if top_p >= 1.0:
        return p
    rows = np.arange(p.shape[0])
    sorted_p = np.sort(p, axis=1)[:, ::-1]
    before = np.cumsum(sorted_p, axis=1)
    before -= sorted_p
    limit = top_p * sorted_p.sum(axis=1) - 1e-12
    n_keep = (before < limit[:, None]).sum(axis=1)
    cutoff = np.where(n_keep > 0, sorted_p[rows, np.maximum(n_keep - 1, 0)], np.inf)
    keep = p > cutoff[:, None]
    # Ties at the cutoff: keep the first ones by column, as a stable descending sort would.
    short = n_keep - np.count_nonzero(keep, axis=1)
    at_cut = p == cutoff[:, None]
    at_cut &= (short > 0)[:, None]
    tied = np.flatnonzero(at_cut)  # by row, then by column
    per_row = np.count_nonzero(at_cut, axis=1)
    rank = np.arange(tied.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    keep.ravel()[tied[rank < np.repeat(short, per_row)]] = True
    return np.where(keep, p, 0.0)


def _normalise(p: np.ndarray) -> np.ndarray:
    total = p.sum(axis=-1, keepdims=True)
    return np.divide(p, total, out=np.zeros_like(p), where=total > 0)


class TopicWordModel:
    """Unigram topic-word model: p(topic) and p(word | topic), shaped for generation.

    Parameters mirror the scenario's `models` section. After `fit`, `topic_probs_` (K,) and
    `word_probs_` (K, V) hold the distributions the model samples from.
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
        if n_topics < 1 or n_words < 1:
            raise ValueError("n_topics and n_words must be positive")
        if smoothing < 0 or temperature <= 0 or not 0 < top_p <= 1:
            raise ValueError("need smoothing >= 0, temperature > 0 and 0 < top_p <= 1")
        if capacity is not None and not 1 <= capacity <= n_words:
            raise ValueError("capacity must be between 1 and n_words")
        self.n_topics = n_topics
        self.n_words = n_words
        self.smoothing = smoothing
        self.temperature = temperature
        self.top_p = top_p
        self.capacity = capacity

    def fit(self, topics: np.ndarray, tokens: np.ndarray, weights=None) -> TopicWordModel:
        """Fit on documents: `topics` (n,), `tokens` (n, L), optional per-document weights."""
        topic_counts, word_counts = count_documents(
            topics, tokens, self.n_topics, self.n_words, weights
        )
        return self.fit_counts(topic_counts, word_counts)

    def fit_counts(self, topic_counts: np.ndarray, word_counts: np.ndarray) -> TopicWordModel:
        """Fit from sufficient statistics: documents per topic (K,) and words per topic (K, V)."""
        topic_counts = np.asarray(topic_counts, dtype=np.float64)
        word_counts = np.asarray(word_counts, dtype=np.float64)
        if topic_counts.shape != (self.n_topics,) or word_counts.shape != (
            self.n_topics,
            self.n_words,
        ):
            raise ValueError("count shapes do not match (n_topics,) and (n_topics, n_words)")
        if topic_counts.sum() <= 0 and self.smoothing == 0:
            raise ValueError("cannot fit on an empty training set without smoothing")
        topic_p = self._shape(topic_counts[None, :] + self.smoothing)[0]
        word_p = word_counts + self.smoothing
        if self.capacity is not None and self.capacity < self.n_words:
            cut = np.argpartition(-word_p, self.capacity - 1, axis=1)[:, self.capacity :]
            np.put_along_axis(word_p, cut, 0.0, axis=1)
        word_p = self._shape(word_p)
        # A topic the model never saw is written with its generic (marginal) vocabulary.
        empty = word_p.sum(axis=1) <= 0
        if empty.any():
            marginal = _normalise(word_counts.sum(axis=0) + self.smoothing)
            if marginal.sum() <= 0:
                marginal = np.full(self.n_words, 1.0 / self.n_words)
            word_p[empty] = marginal
        self.topic_probs_ = topic_p
        self.word_probs_ = word_p
        self._topic_alias = AliasTable.build(topic_p[None, :])
        self._word_alias = AliasTable.build(word_p)
        return self

    def _shape(self, weights: np.ndarray) -> np.ndarray:
        """Row-normalise, sharpen or flatten by temperature, then truncate to the nucleus."""
        p = _normalise(weights)
        if self.temperature != 1.0:
            p = _normalise(np.power(p, 1.0 / self.temperature))
        return _normalise(nucleus(p, self.top_p))

    def sample_topics(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `n` topics."""
        return self._topic_alias.sample(np.zeros(1, dtype=np.int64), n, rng)[0]

    def sample_words(self, topics: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `length` words for each document topic: shape (len(topics), length)."""
        return self._word_alias.sample(topics, length, rng)

    def sample(
        self, n: int, length: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` documents of `length` words: (topics, tokens)."""
        topics = self.sample_topics(n, rng)
        return topics, self.sample_words(topics, length, rng)

    def score(self, topics: np.ndarray, tokens: np.ndarray) -> float:
        """Mean cross-entropy in nats per word of the documents (topic cost spread over words).

        Probabilities are floored at 1e-9, so a word the model lost costs ~20.7 nats.
        """
        topics = np.asarray(topics, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        p_topic = np.maximum(self.topic_probs_[topics], PROB_FLOOR)
        p_word = np.maximum(self.word_probs_[topics[:, None], tokens], PROB_FLOOR)
        nats = -np.log(p_topic).sum() - np.log(p_word).sum()
        return float(nats / tokens.size)


def count_documents(
    topics: np.ndarray,
    tokens: np.ndarray,
    n_topics: int,
    n_words: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sufficient statistics of documents: weighted documents per topic and words per topic."""
    topics = np.asarray(topics, dtype=np.int64)
    length = tokens.shape[1] if tokens.ndim == 2 else 0
    topic_counts = np.bincount(topics, weights=weights, minlength=n_topics).astype(
        np.float64, copy=False
    )
    flat = (topics[:, None] * n_words + tokens).ravel()
    word_w = None if weights is None else np.repeat(np.asarray(weights, np.float64), length)
    word_counts = np.bincount(flat, weights=word_w, minlength=n_topics * n_words)
    return topic_counts, word_counts.astype(np.float64, copy=False).reshape(n_topics, n_words)
