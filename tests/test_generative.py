"""TopicWordModel (simulation.generative.estimator): fit / sample / score / cross_entropy
semantics and its scikit-learn conventions (parameters validated at fit, fitted attributes
ending in "_", NotFittedError before fitting)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from simulation.generative import (
    PROB_FLOOR,
    AliasTable,
    GuideTable,
    NotFittedError,
    TopicWordModel,
    check_is_fitted,
    count_documents,
)
from tests.conftest import stable_sort_nucleus


def test_fitted_models_use_alias_tables_when_dense_and_guide_tables_when_sparse():
    reality = TopicWordModel(3, 8).fit_counts(np.ones(3), np.full((3, 8), 1 / 8))
    fitted = TopicWordModel(3, 8).fit_counts(np.ones(3), np.eye(8)[:3] * 5)
    assert isinstance(reality.word_table_, AliasTable)
    assert isinstance(fitted.word_table_, GuideTable)
    assert isinstance(fitted.word_probs_, sp.csr_array) and fitted.word_probs_.nnz == 3


def test_fit_is_counting_and_score_is_log_likelihood():
    topics = np.array([0, 0, 1])
    tokens = np.array([[0, 1], [0, 0], [2, 2]])
    model = TopicWordModel(3, 3).fit(topics, tokens)
    np.testing.assert_allclose(model.topic_probs_, [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(model.word_probs_.toarray()[0], [3 / 4, 1 / 4, 0])
    np.testing.assert_allclose(model.word_probs_.toarray()[1], [0, 0, 1])
    log_likelihood = (np.log(2 / 3) + np.log(3 / 4) + np.log(1 / 4)) / 2
    assert model.score(topics[:1], tokens[:1]) == pytest.approx(log_likelihood)
    assert model.cross_entropy(topics[:1], tokens[:1]) == pytest.approx(-log_likelihood)
    # A lost word costs -log(1e-9) ≈ 20.7 nats, not infinity.
    lost = model.cross_entropy(np.array([1]), np.array([[0, 2]]))
    assert lost == pytest.approx((-np.log(1 / 3) - np.log(PROB_FLOOR) - np.log(1.0)) / 2)
    assert model.score(np.array([1]), np.array([[0, 2]])) == -lost


def test_cross_entropy_on_training_documents_is_minus_score_and_the_empirical_entropy():
    topics = np.array([0, 0, 1])
    tokens = np.array([[0, 1], [0, 0], [2, 2]])
    model = TopicWordModel(3, 3).fit(topics, tokens)
    ce = model.cross_entropy(topics, tokens)
    assert ce == -model.score(topics, tokens)  # exactly: negation is exact
    # Topic entropy 2·log(3/2) + log 3, word entropy 3·log(4/3) + log 4 (topic 1 costs 0),
    # over 6 words.
    entropy = (2 * np.log(3 / 2) + np.log(3) + 3 * np.log(4 / 3) + np.log(4)) / 6
    assert ce == pytest.approx(entropy, rel=1e-14)
    assert ce == pytest.approx(np.log(2), rel=1e-14)  # the logs of 3 cancel: 6·log 2 over 6
    # The fitted model is the maximum-likelihood one: any other scores its data worse.
    smooth = TopicWordModel(3, 3, smoothing=0.5).fit(topics, tokens)
    assert smooth.score(topics, tokens) < model.score(topics, tokens)


@pytest.mark.parametrize(("n_topics", "n_words", "length"), [(4, 8, 1), (5, 300, 16), (1, 7, 3)])
def test_uniform_model_cross_entropy_is_log_k_over_length_plus_log_v(n_topics, n_words, length):
    model = TopicWordModel(n_topics, n_words).fit_counts(
        np.ones(n_topics), np.ones((n_topics, n_words))
    )
    rng = np.random.default_rng(n_words)
    topics, tokens = model.sample(200, length, rng)
    expected = np.log(n_topics) / length + np.log(n_words)
    assert model.cross_entropy(topics, tokens) == pytest.approx(expected, rel=1e-12)
    assert model.score(topics, tokens) == pytest.approx(-expected, rel=1e-12)


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
    np.testing.assert_allclose(cold.topic_probs_, [0.8, 0.2, 0])  # topics are not tempered
    np.testing.assert_allclose(cold.word_probs_.toarray()[0], [36 / 46, 9 / 46, 1 / 46, 0])
    small = TopicWordModel(3, 4, capacity=2).fit_counts(counts_t, counts_w)
    np.testing.assert_allclose(small.word_probs_.toarray()[0], [6 / 9, 3 / 9, 0, 0])
    truncated = TopicWordModel(3, 4, top_p=0.7).fit_counts(counts_t, counts_w)
    np.testing.assert_allclose(truncated.topic_probs_, [0.8, 0.2, 0.0])  # nor truncated
    np.testing.assert_allclose(truncated.word_probs_.toarray()[0], [6 / 9, 3 / 9, 0, 0])


def normalised_nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """The reference nucleus of each row, renormalised."""
    kept = stable_sort_nucleus(p, top_p)
    return kept / kept.sum(axis=1, keepdims=True)


def training_counts(rng: np.random.Generator, n_topics: int, n_words: int):
    """A model's training counts: documents sampled from a Zipf world, then counted (sparse
    rows, many tied counts)."""
    world = TopicWordModel(n_topics, n_words).fit_counts(
        1 / np.arange(1, n_topics + 1.0),
        np.exp(rng.standard_normal((n_topics, n_words))) / np.arange(1, n_words + 1),
    )
    topics, tokens = world.sample(5_000, 32, rng)
    return count_documents(topics, tokens, n_topics, n_words)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.6])
@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.95, 0.999])
def test_word_nucleus_is_the_stable_sort_nucleus_of_each_topic(top_p, temperature):
    rng = np.random.default_rng(17)
    topic_counts, word_counts = training_counts(rng, 40, 1500)
    model = TopicWordModel(40, 1500, temperature=temperature, top_p=top_p)
    model.fit_counts(topic_counts, word_counts)
    tempered = word_counts.toarray() / word_counts.toarray().sum(axis=1, keepdims=True)
    tempered **= 1 / temperature
    tempered /= tempered.sum(axis=1, keepdims=True)
    expected = normalised_nucleus(tempered, top_p)
    got = model.word_probs_.toarray()
    # Same support exactly (ties included), same probabilities to rounding.
    assert np.array_equal(got > 0, expected > 0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert model.word_probs_.nnz == np.count_nonzero(expected)  # no stored zeros


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_topic_probabilities_are_the_counted_shares_whatever_top_p_and_temperature(smoothing):
    rng = np.random.default_rng(23)
    topic_counts, word_counts = training_counts(rng, 60, 800)
    word_counts = word_counts.toarray()
    topic_counts[[7, 59]] = word_counts[[7, 59]] = 0.0  # two unseen topics: they stay at 0
    shares = (topic_counts + smoothing) / (topic_counts + smoothing).sum()
    plain = TopicWordModel(60, 800, smoothing=smoothing).fit_counts(topic_counts, word_counts)
    np.testing.assert_allclose(plain.topic_probs_, shares, rtol=1e-14, atol=0)
    for top_p in (0.05, 0.5, 0.95, 1.0):
        for temperature in (0.2, 1.0, 3.0):
            model = TopicWordModel(
                60, 800, smoothing=smoothing, temperature=temperature, top_p=top_p
            ).fit_counts(topic_counts, word_counts)
            assert np.array_equal(model.topic_probs_, plain.topic_probs_)
            np.testing.assert_allclose(model.topic_table_.implied()[0], shares, atol=1e-13)


@pytest.mark.parametrize("temperature", [0.25, 0.8, 2.0, 7.5])
def test_temperature_on_words_is_p_to_the_one_over_t_renormalised(temperature):
    rng = np.random.default_rng(29)
    counts = rng.poisson(30 / np.arange(1, 201.0), size=(12, 200)).astype(np.float64)
    counts[:, 0] += 1
    model = TopicWordModel(12, 200, temperature=temperature).fit_counts(np.ones(12), counts)
    p = counts / counts.sum(axis=1, keepdims=True)
    expected = p ** (1 / temperature)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.word_probs_.toarray(), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(model.topic_probs_, np.full(12, 1 / 12), rtol=1e-15)


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
    # Fitted to these very documents, the refit scores them at least as well as the truth.
    assert refit.score(topics, tokens) >= truth.score(topics, tokens)


def test_constructor_only_stores_parameters():
    model = TopicWordModel(3, 4, smoothing=-1, temperature=0, top_p=2, capacity=99)
    assert (model.n_topics, model.n_words) == (3, 4)
    assert (model.smoothing, model.temperature, model.top_p, model.capacity) == (-1, 0, 2, 99)
    assert not [name for name in vars(model) if name.endswith("_")]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 4), {}, "n_topics and n_words must be positive"),
        ((3, 0), {}, "n_topics and n_words must be positive"),
        ((3, 4), {"smoothing": -1}, "need smoothing >= 0"),
        ((3, 4), {"temperature": 0}, "temperature > 0"),
        ((3, 4), {"top_p": 0}, "0 < top_p <= 1"),
        ((3, 4), {"top_p": 1.5}, "0 < top_p <= 1"),
        ((3, 4), {"capacity": 99}, "capacity must be between 1 and n_words"),
        ((3, 4), {"capacity": 0}, "capacity must be between 1 and n_words"),
    ],
)
def test_invalid_parameters_are_rejected_when_fitting(args, kwargs, message):
    model = TopicWordModel(*args, **kwargs)  # constructing is fine
    with pytest.raises(ValueError, match=message):
        model.fit_counts(np.ones(3), np.ones((3, 4)))
    with pytest.raises(ValueError, match=message):
        model.fit(np.array([0, 1]), np.array([[0, 1], [2, 3]]))
    with pytest.raises(NotFittedError):  # and a failed fit leaves the model unfitted
        model.score(np.array([0]), np.array([[0]]))


def test_empty_training_set_without_smoothing_is_rejected():
    with pytest.raises(ValueError, match="empty training set"):
        TopicWordModel(3, 4).fit_counts(np.zeros(3), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="count shapes"):
        TopicWordModel(3, 4).fit_counts(np.ones(2), np.ones((2, 4)))


def test_using_a_model_before_fitting_raises_not_fitted_error():
    model = TopicWordModel(3, 4)
    rng = np.random.default_rng(0)
    topics, tokens = np.array([0]), np.array([[1, 2]])
    calls = [
        lambda: model.sample_topics(2, rng),
        lambda: model.sample_words(topics, 2, rng),
        lambda: model.sample(2, 2, rng),
        lambda: model.score(topics, tokens),
        lambda: model.cross_entropy(topics, tokens),
    ]
    for call in calls:
        with pytest.raises(NotFittedError, match="TopicWordModel instance is not fitted"):
            call()
    # As scikit-learn's, it is both a ValueError and an AttributeError.
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    with pytest.raises(AttributeError):
        model.score(topics, tokens)
    model.fit_counts(np.ones(3), np.ones((3, 4)))
    for call in calls:
        call()


def test_check_is_fitted_names_the_missing_attributes():
    class Thing:
        done_ = 1

    check_is_fitted(Thing(), "done_")
    check_is_fitted(Thing(), ["done_"])
    with pytest.raises(NotFittedError, match=r"Thing instance is not fitted yet \(no a_, b_\)"):
        check_is_fitted(Thing(), ("done_", "a_", "b_"))
