"""Sparse (CSR) helpers (simulation.generative.sparse): truncation, lookup and counting.

The exhaustive comparisons with dense references are in test_hot_path.py; these are the
small worked cases.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from simulation.generative import as_csr, count_documents, lookup, normalise, nucleus, sparse, top_k
from tests.conftest import stable_sort_nucleus


def test_nucleus_keeps_smallest_top_set():
    p = np.array([[0.5, 0.3, 0.15, 0.05]])
    assert nucleus(as_csr(p), 0.8).toarray().tolist() == [[0.5, 0.3, 0.0, 0.0]]
    assert nucleus(as_csr(p), 0.81).toarray().tolist() == [[0.5, 0.3, 0.15, 0.0]]
    assert nucleus(as_csr(p), 0.5).toarray().tolist() == [[0.5, 0.0, 0.0, 0.0]]
    q = as_csr(p)
    assert nucleus(q, 1.0) is q


def test_top_k_and_normalise():
    p = as_csr(np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0]]))
    assert top_k(p, 2).toarray().tolist() == [[0, 3.0, 3.0, 0], [0, 0, 0, 0]]
    assert normalise(top_k(p, 3)).toarray().tolist() == [[0, 0.375, 0.375, 0.25], [0, 0, 0, 0]]


@pytest.mark.parametrize("block", [1, 5, 64])
def test_nucleus_in_blocks_of_rows_is_the_nucleus_in_one(block, monkeypatch):
    rng = np.random.default_rng(11)
    counts = rng.poisson(rng.gamma(0.3, 3.0, size=(40, 60)))  # tied counts, empty rows
    counts[3] = 0
    counts[7] = rng.integers(1, 1000, size=60)  # a row longer than any block
    p = normalise(as_csr(counts.astype(np.float64)))
    p.data[::7] *= 1 + 1e-9  # near-ties in the cutoff buckets: the sorted path
    whole = nucleus(p, 0.9)
    monkeypatch.setattr(sparse, "NUCLEUS_BLOCK", block)
    blocked = nucleus(p, 0.9)
    assert np.array_equal(blocked.indptr, whole.indptr)
    assert np.array_equal(blocked.indices, whole.indices)
    assert np.array_equal(blocked.data, whole.data)
    reference = stable_sort_nucleus(p.toarray(), 0.9)
    assert np.array_equal(blocked.toarray() > 0, reference > 0)


def test_lookup_returns_stored_values_and_zero_elsewhere():
    p = as_csr(np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    got = lookup(p, np.array([0, 0, 1, 1]), np.array([0, 2, 0, 2]))
    assert got.tolist() == [0.0, 0.5, 1.0, 0.0]
    assert lookup(as_csr(np.zeros((2, 3))), np.array([1]), np.array([1])).tolist() == [0.0]


def test_lookup_equals_dense_indexing_on_random_matrices():
    rng = np.random.default_rng(5)
    for _ in range(200):  # shapes from 1 x 1, fills from empty to full
        n_rows, n_cols = rng.integers(1, 30), rng.integers(1, 60)
        dense = rng.random((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < rng.random())
        rows = rng.integers(n_rows, size=(6, 4))
        cols = rng.integers(n_cols, size=(6, 4)).astype(np.uint16)
        got = lookup(as_csr(dense), rows, cols)
        assert got.shape == (6, 4)
        assert np.array_equal(got, dense[rows, cols])


def test_count_documents_conserves_counts_and_weights():
    rng = np.random.default_rng(2)
    topics = rng.integers(4, size=100)
    tokens = rng.integers(7, size=(100, 5))
    weights = rng.random(100)
    tc, wc = count_documents(topics, tokens, 4, 7, weights)
    assert tc.sum() == pytest.approx(weights.sum())
    assert wc.sum() == pytest.approx(5 * weights.sum())
    tc1, wc1 = count_documents(topics, tokens, 4, 7)
    assert tc1.sum() == 100 and wc1.sum() == 500
    assert isinstance(wc1, sp.csr_array) and wc1.has_canonical_format
    dense = np.zeros((4, 7))
    np.add.at(dense, (np.repeat(topics, 5), tokens.ravel()), 1.0)
    assert np.array_equal(wc1.toarray(), dense)


@pytest.mark.parametrize("n_keys", [1, 7, 10_000, 2**40, 2**62])  # 2**62, 1000 keys: the fallback
def test_stable_sort_is_the_stable_argsort(n_keys):
    rng = np.random.default_rng(n_keys % 1000)
    for size in (0, 1, 2, 1000):
        keys = rng.integers(min(n_keys, 50), size=size).astype(np.int64) * (n_keys // 50 or 1)
        ordered, order = sparse._stable_sort(keys, n_keys)
        expected = np.argsort(keys, kind="stable")
        assert np.array_equal(order, expected)
        assert np.array_equal(ordered, keys[expected]) and ordered.dtype == keys.dtype
