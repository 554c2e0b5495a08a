"""Sparse (CSR) distributions: building, normalising, truncating and counting them.

Counts and distributions are scipy CSR matrices of shape (topics, words), so a fit costs
O(support), not O(topics x words): that is what keeps refits cheap at web scale
(benchmarks/PROFILE.md). Everything here is vectorised over rows; matrices are kept in
canonical form (rows in order, sorted columns) so that later steps can skip re-checking it.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

N_BUCKETS = 512  # value buckets of the nucleus: 16 per octave over 32 octaves, then one
ROW_BLOCK = 1 << 16  # entries per block of rows (`row_blocks`): 2^15-2^17 measured alike
# The nucleus's blocks are larger: its ~40 small calls per block hold the GIL between them, so
# fewer blocks let two models' fits run side by side (five medium fits on two threads: 68 ->
# 52 ms; one thread alike).
NUCLEUS_BLOCK = 1 << 18


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
    dense = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    rows, n = dense.shape
    if dense.size and np.all(dense):  # every cell stored (such as p*): no scan for zeros
        index = np.int32 if dense.size < 2**31 else np.int64
        columns = np.tile(np.arange(n, dtype=index), rows)
        return _csr(
            dense.ravel().copy(), columns, np.arange(0, dense.size + 1, n, dtype=index), dense.shape
        )
    return sp.csr_array(dense)


def column_sums(p: sp.csr_array) -> np.ndarray:
    """Sum of every column of a CSR matrix, accumulated row by row."""
    return np.bincount(p.indices, weights=p.data, minlength=p.shape[1])


def fill_rows(
    p: sp.csr_array, empty: np.ndarray, columns: np.ndarray, values: np.ndarray
) -> sp.csr_array:
    """`p` with every row flagged in `empty` (rows without entries) set to `values` at the
    sorted `columns`: a CSR merge by offsets, where adding a COO fill would sort again."""
    n_entries = np.diff(p.indptr)
    n_entries[empty] = columns.size
    indptr = np.concatenate([[0], np.cumsum(n_entries)]).astype(p.indptr.dtype)
    filled = np.repeat(empty, n_entries)  # per new entry: does it belong to a filled row?
    data = np.empty(indptr[-1], dtype=np.float64)
    indices = np.empty(indptr[-1], dtype=p.indices.dtype)
    data[~filled], indices[~filled] = p.data, p.indices
    n_filled = int(np.count_nonzero(empty))
    data[filled], indices[filled] = np.tile(values, n_filled), np.tile(columns, n_filled)
    return _csr(data, indices, indptr, p.shape)


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
    rank when they share one value (the usual case for counts), else by sorting them. Rows
    are handled in blocks (`row_blocks`; a large fit: 64 -> 47 ms); each row's cutoff is its
    own, so the blocks change nothing.
    """
    if top_p >= 1.0 or p.nnz == 0:
        return p
    values = p.data
    top = values.view(np.uint16)[3::4].max()  # the bucket scale, shared by every block
    indptr = p.indptr.astype(np.int64)
    keep = np.empty(p.nnz, dtype=bool)
    for first, last in row_blocks(indptr, NUCLEUS_BLOCK):
        low, high = indptr[first], indptr[last]
        keep[low:high] = _nucleus_keep(values[low:high], indptr[first : last + 1] - low, top_p, top)
    return _mask_entries(p, keep)


def row_blocks(indptr: np.ndarray, entries: int) -> list[tuple[int, int]]:
    """Consecutive blocks of whole rows `[first, last)` of a CSR matrix with row pointers
    `indptr`, each of about `entries` entries (a longer row is a block of its own), covering
    every row. Work done block by block keeps its temporaries in a core's cache."""
    starts = np.searchsorted(indptr, np.arange(0, indptr[-1], entries), side="right") - 1
    bounds = np.unique(np.concatenate([[0], starts, [indptr.size - 1]]))
    return list(itertools.pairwise(bounds.tolist()))


def _nucleus_keep(values: np.ndarray, indptr: np.ndarray, top_p: float, top: int) -> np.ndarray:
    """Which entries of a block of rows (`values` and their row pointers) `nucleus` keeps;
    `top` is the largest top-16-bit pattern of the whole matrix."""
    rows_n = indptr.size - 1
    n_entries = np.diff(indptr)
    # The top 16 bits of a non-negative float64 (sign, exponent, 4 mantissa bits) order it:
    # key = row · N_BUCKETS + bucket, where bucket 0 holds the largest values.
    bits = values.view(np.uint16)[3::4]
    key = np.subtract(top, bits, dtype=np.int32)
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
    per_row = np.diff(np.searchsorted(at, indptr))
    first = np.cumsum(per_row) - per_row
    has = np.flatnonzero(per_row)
    low = np.zeros(rows_n)
    low[has] = np.minimum.reduceat(at_values, first[has])
    tie = np.ones(rows_n, dtype=bool)
    tie[has] = low[has] == np.maximum.reduceat(at_values, first[has])
    # Equal values: entry k of the row has mass above + k·v before it.
    take = np.ceil(np.divide(limit - above, low, out=np.full(rows_n, np.inf), where=low > 0))
    kept = np.minimum(take, per_row).astype(np.int64)  # each row's first `kept` entries of `at`
    runs = np.column_stack([kept, per_row - kept]).ravel()  # kept, then dropped, row by row
    keep[at] = np.repeat(np.tile([True, False], rows_n), runs)
    if not tie.all():  # rows whose boundary bucket holds several values: sort those entries
        mixed = np.flatnonzero(np.repeat(~tie, per_row))
        m_rows = np.repeat(every, per_row)[mixed]
        order = np.lexsort((-at_values[mixed], m_rows))  # stable: ties stay in column order
        m_rows, m_values = m_rows[order], at_values[mixed[order]]
        before = above[m_rows] + _exclusive_row_cumsum(m_rows, m_values)
        keep[at[mixed[order]]] = before < limit[m_rows]
    return keep


def top_k(p: sp.csr_array, k: int) -> sp.csr_array:
    """Keep the `k` largest entries of each row (ties: the first by column)."""
    rows = _entry_rows(p)
    order = np.lexsort((-p.data, rows))
    rank = np.arange(rows.size) - np.repeat(p.indptr[:-1], np.diff(p.indptr))
    keep = np.empty(rows.size, dtype=bool)
    keep[order] = rank < k
    return _mask_entries(p, keep)


def lookup(p: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values p[rows[i], cols[i]] of a canonical CSR matrix (0 where nothing is stored).

    Every query bisects its own row's sorted columns, all queries at once: O(queries · log
    row length), where keys for every stored entry cost O(support) (a large fit: 2.4 M).
    """
    rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=np.intp), np.asarray(cols))
    if p.nnz == 0:
        return np.zeros(rows.shape)
    indptr = p.indptr.astype(np.intp)
    low, high = indptr[rows], indptr[rows + 1]  # the answer lies in [low, high]
    last = p.nnz - 1
    while True:
        open_ = low < high
        if not open_.any():
            break
        mid = (low + high) >> 1
        right = open_ & (p.indices.take(np.minimum(mid, last)) < cols)
        np.copyto(low, mid + 1, where=right)
        np.copyto(high, mid, where=open_ & ~right)
    at = np.minimum(low, last)
    found = (low < indptr[rows + 1]) & (p.indices.take(at) == cols)
    return np.where(found, p.data.take(at), 0.0)


def count_documents(
    topics: np.ndarray,
    tokens: np.ndarray,
    n_topics: int,
    n_words: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, sp.csr_array]:
    """Sufficient statistics of documents: weighted documents per topic (K,) and words per
    topic (a K x V CSR matrix).

    Equal weights give integer counts, counted as runs of sorted keys (`_count_keys`);
    unequal ones are summed per (topic, word) key over its words in document order (a stable
    sort, `_stable_sort`: the same sums, bit for bit, on every run).
    """
    topics = np.asarray(topics, dtype=np.int64)
    tokens = np.asarray(tokens)
    topic_counts = np.bincount(topics, weights=weights, minlength=n_topics).astype(np.float64)
    uniform = weights is None or len(weights) == 0 or bool(np.all(weights == weights[0]))
    if uniform:
        unique, length = _count_keys(topics, tokens, n_topics, n_words)
        scale = 1.0 if weights is None or len(weights) == 0 else float(weights[0])
        values = length.astype(np.float64) * scale
    else:
        key_type = np.int32 if n_topics * n_words < 2**31 else np.int64
        keys = (topics.astype(key_type)[:, None] * n_words + tokens.astype(key_type)).ravel()
        ordered, order = _stable_sort(keys, n_topics * n_words)
        first, _ = _runs(ordered)
        unique = ordered[first].astype(np.int64)
        word_w = np.repeat(np.asarray(weights, dtype=np.float64), tokens.shape[1])
        values = np.add.reduceat(word_w[order], first) if first.size else np.zeros(0)
    if not np.all(values):  # documents of weight zero add nothing
        unique, values = unique[values != 0], values[values != 0]
    rows = unique // n_words
    index = np.int32 if unique.size < 2**31 else np.int64
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_topics))])
    columns = (unique - rows * n_words).astype(np.int32)
    return topic_counts, _csr(values, columns, indptr.astype(index), (n_topics, n_words))


def _stable_sort(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """`keys` (non-negative, below `n_keys`) sorted, and the stable order that sorts them:
    equal keys keep their order, so sums over a key's entries run in document order.

    Each key is packed with its position into one 64-bit value and the values are sorted,
    not arg-sorted (numpy's SIMD sort: ~6x a stable `argsort`, 0.06 against 0.35 s for 3 M
    keys here); positions are distinct, so the order is the stable one. Keys and positions
    too many for 64 bits fall back to `argsort(kind="stable")`.
    """
    shift = max(int(keys.size - 1).bit_length(), 1)
    if max(n_keys - 1, 1).bit_length() + shift > 64:
        order = np.argsort(keys, kind="stable")
        return keys[order], order
    packed = keys.astype(np.uint64) << np.uint64(shift)
    packed |= np.arange(keys.size, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << shift) - 1)).astype(np.intp)
    return (packed >> np.uint64(shift)).astype(keys.dtype), order


def _count_keys(
    topics: np.ndarray, tokens: np.ndarray, n_topics: int, n_words: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys `topic · V + word` of documents' words and how often each occurs.

    The keys are sorted as values (numpy's SIMD sort of 32-bit integers: ~4 ns a key here),
    not arg-sorted, and counted as runs: for a web-scale crawl (6 M words) ~2.5x faster than
    counting dense blocks of topics and scanning them for the cells present.
    """
    key_type = np.uint32 if n_topics * n_words <= 2**32 else np.uint64
    keys = (topics.astype(key_type)[:, None] * key_type(n_words) + tokens).ravel()
    keys.sort()
    first, length = _runs(keys)
    return keys[first].astype(np.int64), length
