"""Metrics against closed forms, brute force and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulation import metrics as M

counts_strategy = arrays(np.int64, st.integers(1, 30), elements=st.integers(0, 1000)).filter(
    lambda a: a.sum() > 0
)


@settings(max_examples=100, deadline=None)
@given(counts_strategy)
def test_hill_numbers_are_ordered_and_bounded(counts):
    h0, h1, h2 = (M.hill_number(counts, q) for q in (0, 1, 2))
    assert h0 >= h1 - 1e-9 >= h2 - 2e-9
    assert h2 >= 1 - 1e-9 and h0 == np.count_nonzero(counts)
    assert M.gini_simpson(counts) == pytest.approx(1 - 1 / h2)


def test_hill_numbers_of_even_and_known_distributions():
    assert [M.hill_number(np.ones(8), q) for q in (0, 1, 2)] == pytest.approx([8, 8, 8])
    p = np.array([0.5, 0.25, 0.25])
    assert M.hill_number(p, 1) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert M.hill_number(p, 2) == pytest.approx(1 / 0.375)
    assert M.hill_number(np.zeros(4), 1) == 0.0


def test_divergences():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert M.js_divergence(p, q) == pytest.approx(1.0)
    assert M.hellinger(p, q) == pytest.approx(1.0)
    r = np.array([0.3, 0.7])
    assert M.js_divergence(r, r * 10) == pytest.approx(0.0, abs=1e-12)
    assert M.hellinger(r, r) == pytest.approx(0.0, abs=1e-7)
    from scipy.spatial.distance import jensenshannon

    a, b = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.1, 0.3])
    assert M.js_divergence(a, b) == pytest.approx(jensenshannon(a, b, base=2) ** 2)


def test_tail_metrics():
    reality = np.array([0.6, 0.3, 0.08, 0.02])
    tail = np.array([False, False, True, True])
    assert M.tail_mass(reality * 1000, reality, tail) == pytest.approx(1.0)
    assert M.tail_mass(np.array([60, 30, 0, 0]), reality, tail) == 0.0
    models = np.array([[0.7, 0.3, 0.0, 0.0], [0.5, 0.3, 0.2, 0.0]])
    assert M.tail_survival(models, tail) == 0.5


def test_mean_cosine_similarity_matches_brute_force():
    rng = np.random.default_rng(5)
    topics = rng.integers(6, size=(40, 3))
    weights = rng.random((40, 3))
    dense = np.zeros((40, 6))
    np.add.at(dense, (np.repeat(np.arange(40), 3), topics.ravel()), weights.ravel())
    unit = dense / np.linalg.norm(dense, axis=1, keepdims=True)
    sims = unit @ unit.T
    brute = (sims.sum() - 40) / (40 * 39)
    assert M.mean_cosine_similarity(topics, weights, 6) == pytest.approx(brute)
    same = np.zeros((10, 2), dtype=int)
    assert M.mean_cosine_similarity(same, np.ones((10, 2)), 3) == pytest.approx(1.0)


def test_precision_recall():
    flagged = np.array([1, 1, 0, 0, 1], dtype=bool)
    synthetic = np.array([1, 0, 1, 0, 1], dtype=bool)
    assert M.precision_recall(flagged, synthetic) == pytest.approx((2 / 3, 2 / 3))
    p, r = M.precision_recall(np.zeros(3, bool), np.zeros(3, bool))
    assert np.isnan(p) and np.isnan(r)
