"""The vectorised hot path of the generative model is exact: alias and guide tables, the
nucleus, top-k and counting. (Crawl collection is tested in test_agents.py.)"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simulation.generative import (
    AliasTable,
    GuideTable,
    TopicWordModel,
    as_csr,
    count_documents,
    nucleus,
    top_k,
)
from tests.conftest import stable_sort_nucleus


def count_like(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """Row-normalised Poisson counts over a Zipf vocabulary: sparse, with many ties."""
    rate = np.arange(1, n + 1.0) ** -1.0 * np.exp(rng.standard_normal((rows, n))) * 20
    counts = rng.poisson(rate).astype(np.float64)
    counts[:, 0] += 1
    return counts / counts.sum(axis=1, keepdims=True)


def test_guide_tables_exact_on_large_sparse_tables():
    rng = np.random.default_rng(5)
    p = count_like(rng, 40, 5000)
    p[3] = 1.0 / 5000  # a uniform row: every edge is an integer, up to rounding
    p[7] = 0.0  # an empty row: no entries, never sampled
    p[8, :] = 0.0
    p[8, [5, 4000]] = [1e-9, 1.0 - 1e-9]  # a tiny entry keeps its own probability
    table = GuideTable.build(as_csr(p))
    assert table.cols.dtype == np.uint16
    assert np.abs(table.implied() - p).max() < 1e-12
    assert abs(table.implied()[8, 5] - 1e-9) < 1e-15


def test_guide_tables_sample_the_rows_they_are_asked_for():
    rng = np.random.default_rng(6)
    p = count_like(rng, 20, 3000)
    table = GuideTable.build(as_csr(p))
    rows = rng.integers(20, size=4000)
    draws = table.sample(rows, 50, rng)
    assert draws.shape == (4000, 50)
    assert np.all(p[rows[:, None], draws] > 0)  # never a word outside the row's support
    head = np.argmax(p, axis=1)  # the most likely word of each row, drawn at its rate
    hits = (draws == head[rows][:, None]).sum(axis=1)
    expected = p[rows, head[rows]] * 50
    assert abs(hits.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())


def test_alias_tables_exact_on_large_sparse_tables():
    rng = np.random.default_rng(5)
    p = count_like(rng, 40, 5000)
    p[3] = 1.0 / 5000  # a uniform row: every entry sits at q = 1 up to rounding
    table = AliasTable.build(p)
    assert table.alias.dtype == np.uint16
    assert np.abs(table.implied() - p).max() < 1e-12
    assert np.all((table.prob >= 0) & (table.prob <= 1))


def test_alias_all_zero_row_becomes_uniform():
    p = np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(AliasTable.build(p).implied(), [[0.25] * 4, p[1]], atol=1e-15)


def test_nucleus_matches_stable_argsort_reference_including_ties():
    rng = np.random.default_rng(9)
    p = count_like(rng, 30, 2000)
    smooth = rng.dirichlet(np.full(700, 0.3), size=25)  # distinct values: sorted per bucket
    smooth[:, :50] = 1 / 700  # plus a block of ties
    smooth /= smooth.sum(axis=1, keepdims=True)
    # A model's training counts: documents sampled from a Zipf world, then counted.
    world = TopicWordModel(60, 3000).fit_counts(
        1 / np.arange(1, 61.0), np.exp(rng.standard_normal((60, 3000))) / np.arange(1, 3001)
    )
    _, counts = count_documents(*world.sample(20_000, 32, rng), 60, 3000)
    pool = counts.toarray() / counts.toarray().sum(axis=1, keepdims=True)
    for q in (p, pool, smooth, smooth**2.5 / (smooth**2.5).sum(axis=1, keepdims=True)):
        for top_p in (0.3, 0.9, 0.95, 0.999):
            got = nucleus(as_csr(q), top_p)
            assert np.array_equal(got.toarray(), stable_sort_nucleus(q, top_p))
            assert got.has_canonical_format
    ties = np.full((2, 6), 1 / 6)
    ties[1] = [0.3, 0.1, 0.1, 0.1, 0.1, 0.3]
    got = nucleus(as_csr(ties), 0.5).toarray()
    assert np.array_equal(got, stable_sort_nucleus(ties, 0.5))
    assert got[1].tolist() == [0.3, 0.0, 0.0, 0.0, 0.0, 0.3]


def test_top_k_keeps_the_largest_entries_first_by_column_on_ties():
    rng = np.random.default_rng(8)
    p = count_like(rng, 30, 400)  # integer counts: many ties at the k-th value
    for k in (1, 5, 40, 400):
        got = top_k(as_csr(p), k).toarray()
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        expected = np.zeros_like(p)
        np.put_along_axis(expected, order, np.take_along_axis(p, order, axis=1), axis=1)
        assert np.array_equal(got, expected)


def test_count_documents_equals_dense_bincount():
    rng = np.random.default_rng(4)
    topics = rng.integers(30, size=2000)
    tokens = rng.zipf(1.3, size=(2000, 16)) % 900
    for weights in (None, np.full(2000, 2.5), rng.random(2000)):
        tc, wc = count_documents(topics, tokens, 30, 900, weights)
        w = None if weights is None else np.repeat(weights, 16)
        dense = np.bincount((topics[:, None] * 900 + tokens).ravel(), w, 30 * 900)
        np.testing.assert_allclose(wc.toarray().ravel(), dense, rtol=1e-12)
        np.testing.assert_allclose(tc, np.bincount(topics, weights, 30), rtol=1e-12)
        assert isinstance(wc, sp.csr_array) and wc.has_canonical_format


def test_column_sums_and_row_fill_equal_scipy_bit_for_bit():
    """The fitted model fills a topic it never saw with the marginal by a direct CSR merge;
    it must equal adding a COO fill (what it replaced), down to the last bit."""
    from simulation.generative.sparse import column_sums, fill_rows

    rng = np.random.default_rng(1)
    for _ in range(100):
        k, v = rng.integers(1, 30), rng.integers(1, 60)
        dense = rng.random((k, v)) * (rng.random((k, v)) < rng.random())
        dense[rng.random(k) < 0.4] = 0.0
        counts = as_csr(dense)
        assert np.array_equal(np.asarray(counts.sum(axis=0)), column_sums(counts))
        empty = np.diff(counts.indptr) == 0
        words = np.flatnonzero(column_sums(counts)) if counts.nnz else np.arange(v)
        values = rng.random(words.size)
        rows = np.flatnonzero(empty)
        fill = sp.coo_array(
            (
                np.tile(values, rows.size),
                (np.repeat(rows, words.size), np.tile(words, rows.size)),
            ),
            shape=counts.shape,
        )
        expected = as_csr(counts + fill)
        got = fill_rows(counts, empty, words, values)
        for part in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(got, part), getattr(expected, part))
