"""Metrics against closed forms, brute force and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
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


# --- two-sided tail, token shares, detector cost --------------------------------------------

REALITY = np.array([0.6, 0.3, 0.08, 0.02])  # tail share 0.1
TAIL = np.array([False, False, True, True])


def test_tail_distortion_is_zero_at_reality_and_symmetric_in_log_ratio():
    assert M.tail_distortion(REALITY * 1000, REALITY, TAIL) == pytest.approx(0.0, abs=1e-12)
    double = np.array([50, 30, 15, 5])  # tail share 0.2 = 2 × reality
    half = np.array([60, 35, 4, 1])  # tail share 0.05 = reality / 2
    assert M.tail_distortion(double, REALITY, TAIL) == pytest.approx(np.log(2))
    assert M.tail_distortion(half, REALITY, TAIL) == pytest.approx(np.log(2))
    # tail_mass calls the first "more diverse" than reality; the two-sided measure does not
    assert M.tail_mass(double, REALITY, TAIL) == pytest.approx(2.0)
    # an empty tail counts as half a document: finite
    assert M.tail_distortion(np.array([60, 40, 0, 0]), REALITY, TAIL) == pytest.approx(
        np.log(0.1 / (0.5 / 100))
    )


def test_token_share_is_the_hand_sum():
    ai_fraction = np.array([1.0, 0.5, 0.0, 0.25])
    lengths = np.array([10, 20, 30, 40])
    # (10 + 10 + 0 + 10) / 100
    assert M.token_share(ai_fraction, lengths) == pytest.approx(0.3)
    # weights 2, 1, 1, 0: (20 + 10 + 0) / (20 + 20 + 30)
    assert M.token_share(ai_fraction, lengths, np.array([2, 1, 1, 0])) == pytest.approx(30 / 70)
    assert np.isnan(M.token_share(np.zeros(0), np.zeros(0)))


def test_human_flag_rate_counts_assisted_human_documents_as_human():
    flagged = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    synthetic = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
    assert M.human_flag_rate(flagged, synthetic) == pytest.approx(2 / 4)
    assert np.isnan(M.human_flag_rate(flagged[:1], synthetic[:1]))


# --- what the models can still say ----------------------------------------------------------

P_TOPIC = np.array([0.5, 0.3, 0.2])
P_WORD = np.array([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])


def test_missing_mass_is_zero_for_reality_itself():
    support = M.joint_support(P_TOPIC[None], [sp.csr_array(P_WORD)])
    assert M.missing_mass(P_TOPIC, P_WORD, support) == 0.0
    assert M.support_per_topic(support, 3, 4).tolist() == [4, 4, 4]


def test_missing_mass_is_the_reality_mass_of_the_dropped_cells():
    # model A drops topic 2 and the cell (0, 3); model B keeps (0, 3) but drops topic 1
    # and the cells (2, 1), (2, 2)
    a_words = P_WORD.copy()
    a_words[0, 3] = 0
    b_words = P_WORD.copy()
    b_words[2, 1:3] = 0
    a = (np.array([0.6, 0.4, 0.0]), sp.csr_array(a_words))
    b = (np.array([0.5, 0.0, 0.5]), sp.csr_array(b_words))
    only_a = M.joint_support(a[0][None], [a[1]])
    assert M.missing_mass(P_TOPIC, P_WORD, only_a) == pytest.approx(0.5 * 0.1 + 0.2)
    assert M.support_per_topic(only_a, 3, 4).tolist() == [3, 4, 0]
    # the average of A and B gives probability 0 only where both do: the cells (2, 1), (2, 2)
    both = M.joint_support(np.stack([a[0], b[0]]), [a[1], b[1]])
    assert M.missing_mass(P_TOPIC, P_WORD, both) == pytest.approx(0.2 * (0.1 + 0.1))
    assert M.support_per_topic(both, 3, 4).tolist() == [4, 4, 2]


def test_smoothed_cross_entropy_by_hand():
    topic_probs = np.array([1.0, 0.0])
    word_probs = sp.csr_array(np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]))
    lam = 0.1
    unigram = (1 - lam) * np.array([0.5, 0.5, 0.0]) + lam / 3
    p_topic = (1 - lam) * 1.0 + lam / 2
    p_words = [(1 - lam) * 0.5 + lam * unigram[0], lam * unigram[2]]  # word 2 is lost
    expected = -(np.log(p_topic) + np.log(p_words).sum()) / 2
    ce = M.smoothed_cross_entropy(topic_probs, word_probs, np.array([0]), np.array([[0, 2]]))
    assert ce == pytest.approx(expected, rel=1e-12)
    # a lost word costs ln(V / λ²) at most, far below the 20.7 nats of a 1e-9 floor
    assert -np.log(p_words[1]) == pytest.approx(np.log(3 / lam**2))


def test_smoothed_cross_entropy_without_interpolation_is_the_plain_cross_entropy():
    from simulation.generative import TopicWordModel

    model = TopicWordModel(3, 4).fit_counts(P_TOPIC, P_WORD)
    rng = np.random.default_rng(3)
    topics, tokens = model.sample(200, 8, rng)
    plain = model.cross_entropy(topics, tokens)
    zero = M.smoothed_cross_entropy(model.topic_probs_, model.word_probs_, topics, tokens, 0.0)
    assert zero == pytest.approx(plain, rel=1e-12)
    smoothed = M.smoothed_cross_entropy(model.topic_probs_, model.word_probs_, topics, tokens)
    assert plain < smoothed < plain + 0.3  # full support: smoothing costs little
