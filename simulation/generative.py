"""TopicWordModel: a generative model of (topic, words) documents with a scikit-learn-like API.

`fit` counts, `sample` draws documents through Walker/Vose alias tables (dense distributions,
such as reality's) or guide tables over each topic's support (sparse ones, such as a model
fitted to counts), `score` returns the cross-entropy in nats per word. Smoothing, capacity,
temperature and top-p shape the sampling distribution. Counts and distributions are scipy CSR
matrices, so a fit costs O(support), not O(topics x words): that is what keeps refits cheap at
web scale (benchmarks/PROFILE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

PROB_FLOOR = 1e-9
N_BUCKETS = 512  # value buckets of the nucleus: 16 per octave over 32 octaves, then one
DENSE_FILL = 0.5  # distributions at least this full get alias tables, sparser ones guide tables
GUIDE_SLOTS = 4  # guide slots per entry of a guide table: fewer walking draws, 16 bytes more


def _entry_rows(p: sp.csr_array) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(p.shape[0], dtype=np.int32), np.diff(p.indptr))


def _row_sums(p: sp.csr_array) -> np.ndarray:
    """Sum of every row of a CSR matrix (0 for an empty row)."""
    return np.asarray(p.sum(axis=1), dtype=np.float64).reshape(p.shape[0])


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape) -> sp.csr_array:
    """A CSR matrix from arrays already in canonical form (rows in order, sorted columns)."""
    out = sp.csr_array((data, indices, indptr), shape=shape)
    out.has_canonical_format = True
    return out


def _mask_entries(p: sp.csr_array, keep: np.ndarray) -> sp.csr_array:
    """The entries of `p` where `keep` (one flag per stored entry) is true."""
    kept = np.flatnonzero(keep)  # then `take`: much faster than boolean indexing
    indptr = np.searchsorted(kept, p.indptr).astype(p.indptr.dtype)
    return _csr(p.data.take(kept), p.indices.take(kept), indptr, p.shape)


def as_csr(counts) -> sp.csr_array:
    """Dense or sparse (rows, n) weights as a float64 CSR matrix in canonical form."""
    if sp.issparse(counts):
        out = sp.csr_array(counts, dtype=np.float64)
        out.sum_duplicates()
        return out
    return sp.csr_array(np.atleast_2d(np.asarray(counts, dtype=np.float64)))


def normalise(p: sp.csr_array) -> sp.csr_array:
    """Scale every non-empty row to sum to one."""
    total = _row_sums(p)
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return _csr(p.data * np.repeat(scale, np.diff(p.indptr)), p.indices, p.indptr, p.shape)


def _runs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and length of every run of equal values in `a`."""
    if a.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    first = np.flatnonzero(np.concatenate([[True], a[1:] != a[:-1]]))
    return first, np.diff(np.append(first, a.size))


def _exclusive_row_cumsum(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of the earlier entries of the same row, for entries grouped by row."""
    total = np.cumsum(values)
    first, length = _runs(rows)
    total -= np.repeat(total[first] - values[first], length)
    return total - values


def nucleus(p: sp.csr_array, top_p: float) -> sp.csr_array:
    """Keep, per row, the smallest set of largest entries whose mass reaches `top_p`.

    Ties at the cutoff keep the first entries by column, as a stable descending sort would.
    Rather than sorting every row, a histogram of the mass per (row, value bucket) finds the
    bucket holding each row's cutoff; only that bucket's entries are resolved exactly: by a
    rank when they share one value (the usual case for counts), else by sorting them.
    """
    if top_p >= 1.0 or p.nnz == 0:
        return p
    rows_n = p.shape[0]
    values = p.data
    n_entries = np.diff(p.indptr)
    # The top 16 bits of a non-negative float64 (sign, exponent, 4 mantissa bits) order it:
    # key = row · N_BUCKETS + bucket, where bucket 0 holds the largest values.
    bits = values.view(np.uint16)[3::4]
    key = np.subtract(bits.max(), bits, dtype=np.int32)
    np.clip(key, 0, N_BUCKETS - 1, out=key)  # (0 only matters for a stray -0.0)
    key += np.repeat(np.arange(0, rows_n * N_BUCKETS, N_BUCKETS, dtype=np.int32), n_entries)
    hist = np.bincount(key, weights=values, minlength=rows_n * N_BUCKETS)
    hist = hist.reshape(rows_n, N_BUCKETS)
    upto = np.cumsum(hist, axis=1)
    limit = top_p * upto[:, -1] - 1e-12
    cut = (upto >= limit[:, None]).argmax(axis=1)
    every = np.arange(rows_n)
    above = upto[every, cut] - hist[every, cut]
    cut_key = np.repeat((every * N_BUCKETS + cut).astype(np.int32), n_entries)
    keep = key < cut_key
    at = np.flatnonzero(key == cut_key)
    at_values = values[at]
    per_row = np.diff(np.searchsorted(at, p.indptr))
    first = np.cumsum(per_row) - per_row
    has = np.flatnonzero(per_row)
    low = np.zeros(rows_n)
    low[has] = np.minimum.reduceat(at_values, first[has])
    tie = np.ones(rows_n, dtype=bool)
    tie[has] = low[has] == np.maximum.reduceat(at_values, first[has])
    # Equal values: entry k of the row has mass above + k·v before it.
    take = np.ceil(np.divide(limit - above, low, out=np.full(rows_n, np.inf), where=low > 0))
    stop = first + np.minimum(take, per_row).astype(np.int64)  # where each row's kept run ends
    keep[at] = np.arange(at.size) < np.repeat(stop, per_row)
    if not tie.all():  # rows whose boundary bucket holds several values: sort those entries
        mixed = np.flatnonzero(np.repeat(~tie, per_row))
        m_rows = np.repeat(every, per_row)[mixed]
        order = np.lexsort((-at_values[mixed], m_rows))  # stable: ties stay in column order
        m_rows, m_values = m_rows[order], at_values[mixed[order]]
        before = above[m_rows] + _exclusive_row_cumsum(m_rows, m_values)
        keep[at[mixed[order]]] = before < limit[m_rows]
    return _mask_entries(p, keep)


def top_k(p: sp.csr_array, k: int) -> sp.csr_array:
    """Keep the `k` largest entries of each row (ties: the first by column)."""
    rows = _entry_rows(p)
    order = np.lexsort((-p.data, rows))
    rank = np.arange(rows.size) - np.repeat(p.indptr[:-1], np.diff(p.indptr))
    keep = np.empty(rows.size, dtype=bool)
    keep[order] = rank < k
    return _mask_entries(p, keep)


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
        index = np.int32 if self.prob.size < 2**31 else np.int64
        x = rng.random((len(rows), size))
        x *= self.n
        col = x.astype(index)  # truncation: the column, and what is left is the coin
        x -= col
        np.minimum(col, self.n - 1, out=col)
        flat = col + (np.asarray(rows, dtype=index) * self.n)[:, None]
        keep = x < self.prob[flat]
        out = self.alias[flat]
        np.copyto(out, col, casting="unsafe", where=keep)
        return out

    def implied(self) -> np.ndarray:
        """The distributions the tables sample from (rows, n): for testing exactness."""
        rows = self.prob.size // self.n
        out = self.prob.reshape(rows, self.n).copy()
        give = (1.0 - self.prob).reshape(rows, self.n)
        row_idx = np.repeat(np.arange(rows), self.n)
        np.add.at(out, (row_idx, self.alias.astype(np.int64)), give.ravel())
        return out / self.n


@dataclass(frozen=True)
class GuideTable:
    """Row-wise discrete distributions over each row's support, sampled by indexed search.

    Row r owns its n_r entries from `start[r]` on, and `slots[r]` = GUIDE_SLOTS·n_r slots.
    Each entry holds its column and the upper edge of its interval on [0, slots[r]), whose
    widths are the probabilities scaled by slots[r]. A draw x = u·slots[r] starts at the guide
    slot floor(x), which names the first entry whose edge passes it (Chen & Asau 1974), and
    walks on while the entry's edge is ≤ x: about one draw in ten takes a step. Building is a
    cumulative sum and a repeat over the support, no sort.
    """

    start: np.ndarray  # (rows,) int: first entry of each row
    slots: np.ndarray  # (rows,) float64: guide slots of each row
    cols: np.ndarray  # (entries,) uint16/uint32: the column each entry draws
    edge: np.ndarray  # (entries,) float64: upper edge of each entry's interval in its row
    guide: np.ndarray  # (slots,) int32: guide[GUIDE_SLOTS·start[r] + j] = first entry, edge > j
    n_cols: int

    @classmethod
    def build(cls, p: sp.csr_array) -> GuideTable:
        """Tables for every row of a non-negative CSR matrix (empty rows cannot be sampled)."""
        n_cols = p.shape[1]
        indptr = p.indptr.astype(np.int64)
        n = np.diff(indptr)
        slots = n * float(GUIDE_SLOTS)
        total = _row_sums(p)
        scale = np.divide(slots, total, out=np.zeros_like(slots), where=total > 0)
        width = p.data * np.repeat(scale, n)  # sums to slots[r] within row r
        # Row-local cumulative sums from one global pass: each row start subtracts the previous
        # row's nominal total, and the residual rounding is then removed per row.
        nonempty = np.flatnonzero(n)
        first, last = indptr[nonempty], indptr[nonempty + 1] - 1
        width_first = width[first]
        width[first[1:]] -= slots[nonempty[:-1]]
        edge = np.cumsum(width)
        edge -= np.repeat(edge[first] - width_first, n[nonempty])
        np.minimum(edge, np.repeat(slots, n), out=edge)
        edge[last] = slots[nonempty]
        ceil = np.ceil(edge).astype(np.int64)  # ceil of a tiny negative rounding is 0
        below = np.empty_like(ceil)
        below[1:] = ceil[:-1]
        below[first] = 0
        guide = np.repeat(np.arange(edge.size, dtype=np.int32), ceil - below)
        dtype = np.uint16 if n_cols <= 65536 else np.uint32
        start = indptr[:-1].astype(np.int32 if guide.size < 2**31 else np.int64)
        return cls(start, slots, p.indices.astype(dtype), edge, guide, n_cols)

    def sample(self, rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` columns for each entry of `rows`: shape (len(rows), size)."""
        rows = np.asarray(rows, dtype=np.int64)
        x = rng.random((rows.size, size))
        x *= self.slots[rows][:, None]
        entry = x.astype(self.start.dtype)  # x < slots[r] for every u < 1: floor stays in row
        entry += (self.start[rows] * GUIDE_SLOTS)[:, None]
        entry = self.guide[entry]
        flat_entry, flat_x = entry.ravel(), x.ravel()
        walk = np.flatnonzero(self.edge[flat_entry] <= flat_x)
        while walk.size:
            flat_entry[walk] += 1
            walk = walk[self.edge[flat_entry[walk]] <= flat_x[walk]]
        return self.cols[entry]

    def implied(self) -> np.ndarray:
        """The distributions the tables sample from (rows, n_cols): for testing exactness."""
        n = (self.slots / GUIDE_SLOTS).astype(np.int64)
        rows = np.repeat(np.arange(n.size), n)
        lower = np.empty_like(self.edge)
        lower[1:] = self.edge[:-1]
        lower[self.start[n > 0]] = 0.0
        out = np.zeros((n.size, self.n_cols))
        np.add.at(out, (rows, self.cols.astype(np.int64)), (self.edge - lower) / self.slots[rows])
        return out


def sampler(p: sp.csr_array) -> AliasTable | GuideTable:
    """Alias tables for dense distributions (the fastest draws), guide tables for sparse ones
    (built with a cumulative sum over the support, where an alias table needs every cell)."""
    rows, n = p.shape
    if p.nnz >= DENSE_FILL * rows * n:
        return AliasTable.build(p.toarray())
    return GuideTable.build(p)


def lookup(p: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values p[rows[i], cols[i]] of a canonical CSR matrix (0 where nothing is stored)."""
    n_cols = p.shape[1]
    keys = _entry_rows(p).astype(np.int64) * n_cols + p.indices
    query = np.asarray(rows, dtype=np.int64) * n_cols + np.asarray(cols, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    found = keys[pos] == query if keys.size else np.zeros(query.shape, dtype=bool)
    return np.where(found, p.data[pos] if keys.size else 0.0, 0.0)


class TopicWordModel:
    """Unigram topic-word model: p(topic) and p(word | topic), shaped for generation.

    Parameters mirror the scenario's `models` section. After `fit`, `topic_probs_` (K,) and
    `word_probs_` (a K x V scipy CSR matrix of the kept words) hold the distributions the model
    samples from.
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

    def fit_counts(self, topic_counts: np.ndarray, word_counts) -> TopicWordModel:
        """Fit from sufficient statistics: documents per topic (K,) and words per topic (K, V),
        the latter dense or a scipy sparse matrix."""
        topic_counts = np.asarray(topic_counts, dtype=np.float64)
        counts = as_csr(word_counts)
        if topic_counts.shape != (self.n_topics,) or counts.shape != (
            self.n_topics,
            self.n_words,
        ):
            raise ValueError("count shapes do not match (n_topics,) and (n_topics, n_words)")
        if topic_counts.sum() <= 0 and self.smoothing == 0:
            raise ValueError("cannot fit on an empty training set without smoothing")
        topic_p = self._shape(as_csr(topic_counts + self.smoothing)).toarray()[0]
        word_p = counts
        if self.smoothing > 0:  # every word gets mass: the support is the whole vocabulary
            word_p = as_csr(counts.toarray() + self.smoothing)
        if self.capacity is not None and self.capacity < self.n_words:
            word_p = top_k(word_p, self.capacity)
        word_p = self._shape(word_p)
        # A topic the model never saw is written with its generic (marginal) vocabulary.
        empty = np.flatnonzero(np.diff(word_p.indptr) == 0)
        if empty.size:
            marginal = np.asarray(counts.sum(axis=0)) + self.smoothing
            if marginal.sum() <= 0:
                marginal = np.ones(self.n_words)
            words = np.flatnonzero(marginal)
            fill = sp.coo_array(
                (
                    np.tile(marginal[words] / marginal.sum(), empty.size),
                    (np.repeat(empty, words.size), np.tile(words, empty.size)),
                ),
                shape=word_p.shape,
            )
            word_p = as_csr(word_p + fill)
        self.topic_probs_ = topic_p
        self.word_probs_ = word_p
        self._topic_table = sampler(as_csr(topic_p))
        self._word_table = sampler(word_p)
        return self

    def _shape(self, weights: sp.csr_array) -> sp.csr_array:
        """Row-normalise, sharpen or flatten by temperature, then truncate to the nucleus."""
        p = normalise(weights)
        if self.temperature != 1.0:
            p = normalise(_csr(p.data ** (1.0 / self.temperature), p.indices, p.indptr, p.shape))
        p = normalise(nucleus(p, self.top_p))
        if np.count_nonzero(p.data) < p.nnz:
            p = _mask_entries(p, p.data > 0)
        return p

    def sample_topics(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `n` topics."""
        return self._topic_table.sample(np.zeros(1, dtype=np.int64), n, rng)[0]

    def sample_words(self, topics: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `length` words for each document topic: shape (len(topics), length)."""
        return self._word_table.sample(topics, length, rng)

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
        word_rows = np.broadcast_to(topics[:, None], tokens.shape)
        p_word = np.maximum(lookup(self.word_probs_, word_rows, tokens), PROB_FLOOR)
        nats = -np.log(p_topic).sum() - np.log(p_word).sum()
        return float(nats / tokens.size)


def count_documents(
    topics: np.ndarray,
    tokens: np.ndarray,
    n_topics: int,
    n_words: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, sp.csr_array]:
    """Sufficient statistics of documents: weighted documents per topic (K,) and words per
    topic (a K x V CSR matrix), counted by sorting the (topic, word) keys."""
    topics = np.asarray(topics, dtype=np.int64)
    tokens = np.asarray(tokens)
    topic_counts = np.bincount(topics, weights=weights, minlength=n_topics).astype(np.float64)
    key_type = np.int32 if n_topics * n_words < 2**31 else np.int64
    keys = (topics.astype(key_type)[:, None] * n_words + tokens.astype(key_type)).ravel()
    uniform = weights is None or len(weights) == 0 or bool(np.all(weights == weights[0]))
    if uniform:
        keys = np.sort(keys)
    else:
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
    first, length = _runs(keys)
    unique = keys[first]
    if uniform:
        scale = 1.0 if weights is None or len(weights) == 0 else float(weights[0])
        values = length.astype(np.float64) * scale
    else:
        word_w = np.repeat(np.asarray(weights, dtype=np.float64), tokens.shape[1])
        values = np.add.reduceat(word_w[order], first) if first.size else np.zeros(0)
    if not np.all(values):  # documents of weight zero add nothing
        unique, values = unique[values != 0], values[values != 0]
    rows = unique // n_words
    index = np.int32 if unique.size < 2**31 else np.int64
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_topics))])
    columns = (unique - rows * n_words).astype(np.int32)
    return topic_counts, _csr(values, columns, indptr.astype(index), (n_topics, n_words))
