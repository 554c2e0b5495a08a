"""TopicWordModel, alias and guide tables: exact distributions, fit/sample/score semantics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.generative import (
    GUIDE_SLOTS,
    AliasTable,
    GuideTable,
    TopicWordModel,
    as_csr,
    count_documents,
    nucleus,
    sampler,
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    sparsity=st.floats(0.0, 0.9),
)
def test_guide_tables_reproduce_distribution_exactly(rows, n, seed, sparsity):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n, 0.5), size=rows) * (rng.random((rows, n)) >= sparsity)
    p[:, 0] += 1e-3
    p /= p.sum(axis=1, keepdims=True)
    table = GuideTable.build(as_csr(p))
    assert np.abs(table.implied() - p).max() < 1e-12
    # Every row's guide covers its own entries only, and the edges rise to the row's slots.
    assert table.edge.size == np.count_nonzero(p)
    assert table.guide.size == GUIDE_SLOTS * table.edge.size
    for r in range(rows):
        n = np.count_nonzero(p[r])
        own = table.guide[GUIDE_SLOTS * table.start[r] : GUIDE_SLOTS * (table.start[r] + n)]
        assert np.all((own >= table.start[r]) & (own < table.start[r] + n))
        edges = table.edge[table.start[r] : table.start[r] + n]
        assert np.all(np.diff(edges) >= 0) and edges[-1] == table.slots[r] == GUIDE_SLOTS * n


def build_table(kind: str, p: np.ndarray):
    return AliasTable.build(p) if kind == "alias" else GuideTable.build(as_csr(p))


@pytest.mark.parametrize("kind", ["alias", "guide"])
def test_sampling_frequencies_match_within_sampling_error(kind):
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(50), size=3)
    p[1, ::3] = 0.0  # a sparse row
    p /= p.sum(axis=1, keepdims=True)
    draws = build_table(kind, p).sample(np.array([0, 1, 2, 1]), 200_000, rng)
    assert draws.shape == (4, 200_000) and draws.dtype == np.uint16
    for i, row in enumerate([0, 1, 2, 1]):
        freq = np.bincount(draws[i], minlength=50) / 200_000
        se = np.sqrt(p[row] * (1 - p[row]) / 200_000)
        assert np.all(np.abs(freq - p[row]) < 5 * se + 1e-12)


@pytest.mark.parametrize("kind", ["alias", "guide"])
def test_zero_probability_words_are_never_sampled(kind):
    p = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    draws = build_table(kind, p).sample(np.array([0, 1]), 10_000, np.random.default_rng(0))
    assert set(np.unique(draws[0])) == {0, 2}
    assert set(np.unique(draws[1])) == {3}


def test_dense_distributions_get_alias_tables_and_sparse_ones_guide_tables():
    dense = np.full((3, 8), 1 / 8)
    sparse = np.eye(8)[:3]
    assert isinstance(sampler(as_csr(dense)), AliasTable)
    assert isinstance(sampler(as_csr(sparse)), GuideTable)
    reality = TopicWordModel(3, 8).fit_counts(np.ones(3), dense)
    fitted = TopicWordModel(3, 8).fit_counts(np.ones(3), sparse * 5)
    assert isinstance(reality._word_table, AliasTable)
    assert isinstance(fitted._word_table, GuideTable)
    assert isinstance(fitted.word_probs_, sp.csr_array) and fitted.word_probs_.nnz == 3


def test_nucleus_keeps_smallest_top_set():
    p = np.array([[0.5, 0.3, 0.15, 0.05]])
    assert nucleus(as_csr(p), 0.8).toarray().tolist() == [[0.5, 0.3, 0.0, 0.0]]
    assert nucleus(as_csr(p), 0.81).toarray().tolist() == [[0.5, 0.3, 0.15, 0.0]]
    assert nucleus(as_csr(p), 0.5).toarray().tolist() == [[0.5, 0.0, 0.0, 0.0]]
    q = as_csr(p)
    assert nucleus(q, 1.0) is q


def test_fit_is_counting_and_score_is_cross_entropy():
    topics = np.array([0, 0, 1])
    tokens = np.array([[0, 1], [0, 0], [2, 2]])
    model = TopicWordModel(3, 3).fit(topics, tokens)
    np.testing.assert_allclose(model.topic_probs_, [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(model.word_probs_.toarray()[0], [3 / 4, 1 / 4, 0])
    np.testing.assert_allclose(model.word_probs_.toarray()[1], [0, 0, 1])
    expected = -(np.log(2 / 3) + np.log(3 / 4) + np.log(1 / 4)) / 2
    assert model.score(topics[:1], tokens[:1]) == pytest.approx(expected)
    # A lost word costs -log(1e-9) ≈ 20.7 nats, not infinity.
    lost = model.score(np.array([1]), np.array([[0, 2]]))
    assert lost == pytest.approx((-np.log(1 / 3) - np.log(1e-9) - np.log(1.0)) / 2)


def test_unseen_topic_uses_marginal_vocabulary():
    model = TopicWordModel(3, 3).fit(np.array([0, 1]), np.array([[0, 0], [1, 1]]))
    np.testing.assert_allclose(model.word_probs_.toarray()[2], [0.5, 0.5, 0.0])
    assert model.topic_probs_[2] == 0.0


def test_smoothing_temperature_capacity_top_p():
    counts_t = np.array([8.0, 2.0, 0.0])
    counts_w = np.array([[6.0, 3.0, 1.0, 0.0]] * 3)
    smooth = TopicWordModel(3, 4, smoothing=1.0).fit_counts(counts_t, counts_w)
    assert np.all(smooth.topic_probs_ > 0) and np.all(smooth.word_probs_.toarray() > 0)
    np.testing.assert_allclose(smooth.topic_probs_, [9 / 13, 3 / 13, 1 / 13])
    cold = TopicWordModel(3, 4, temperature=0.5).fit_counts(counts_t, counts_w)
    np.testing.assert_allclose(cold.topic_probs_, [64 / 68, 4 / 68, 0])
    small = TopicWordModel(3, 4, capacity=2).fit_counts(counts_t, counts_w)
    np.testing.assert_allclose(small.word_probs_.toarray()[0], [6 / 9, 3 / 9, 0, 0])
    truncated = TopicWordModel(3, 4, top_p=0.7).fit_counts(counts_t, counts_w)
    np.testing.assert_allclose(truncated.topic_probs_, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(truncated.word_probs_.toarray()[0], [6 / 9, 3 / 9, 0, 0])


def test_sample_then_refit_recovers_distribution():
    rng = np.random.default_rng(11)
    truth = TopicWordModel(5, 20).fit_counts(
        rng.dirichlet(np.ones(5)) * 100, rng.dirichlet(np.ones(20), size=5) * 100
    )
    topics, tokens = truth.sample(100_000, 8, rng)
    refit = TopicWordModel(5, 20).fit(topics, tokens)
    np.testing.assert_allclose(refit.topic_probs_, truth.topic_probs_, atol=0.01)
    np.testing.assert_allclose(refit.word_probs_.toarray(), truth.word_probs_.toarray(), atol=0.01)
    assert refit.score(topics, tokens) == pytest.approx(truth.score(topics, tokens), rel=0.01)


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


def test_invalid_parameters_are_rejected():
    for kwargs in ({"smoothing": -1}, {"temperature": 0}, {"top_p": 0}, {"capacity": 99}):
        with pytest.raises(ValueError):
            TopicWordModel(3, 4, **kwargs)
    with pytest.raises(ValueError, match="empty"):
        TopicWordModel(3, 4).fit_counts(np.zeros(3), np.zeros((3, 4)))
