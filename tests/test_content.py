"""ContentSpace: the truth p* (Zipf topic popularity, per-topic words), its tail and the real
documents drawn from it."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.content import ContentSpace, zipf
from simulation.generative import TopicWordModel
from simulation.scenario import Content

CONFIG = Content(vocabulary="zipf", n_words=300, n_topics=40, doc_length=16, topic_zipf=1.1)


def space(seed: int = 0, **overrides) -> ContentSpace:
    config = CONFIG.model_copy(update=overrides) if overrides else CONFIG
    return ContentSpace(config, np.random.default_rng(seed))


def test_zipf_is_the_normalised_power_law():
    p = zipf(50, 1.3)
    assert p.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.all(np.diff(p) < 0)
    np.testing.assert_allclose(p[0] / p[1:], np.arange(2, 51) ** 1.3, rtol=1e-13)
    np.testing.assert_allclose(zipf(4, 0.0), 0.25, rtol=0)


def test_topic_popularity_is_exactly_zipf_and_rows_are_distributions():
    content = space()
    assert np.array_equal(content.topic_probs, zipf(40, 1.1))
    assert content.word_probs.shape == (40, 300)
    assert np.all(content.word_probs > 0)
    np.testing.assert_allclose(content.word_probs.sum(axis=1), 1.0, rtol=1e-13)
    np.testing.assert_allclose(content.topic_table.implied()[0], content.topic_probs, rtol=1e-12)
    np.testing.assert_allclose(content.word_table.implied(), content.word_probs, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"topic_specificity": 0.0}, {"topic_specificity": 5.0, "topic_zipf": 5.0, "n_topics": 7}],
)
def test_real_documents_are_drawn_as_a_model_fitted_to_p_star_draws_them(overrides):
    """p*'s tables are built without a fitted model's sparse copy of p*, bit for bit the same."""
    content = space(3, **overrides)
    model = TopicWordModel(content.n_topics, content.n_words)
    model.fit_counts(content.topic_probs, content.word_probs)
    for ours, fitted in [
        (content.topic_table, model.topic_table_),
        (content.word_table, model.word_table_),
    ]:
        assert np.array_equal(ours.prob, fitted.prob)
        assert np.array_equal(ours.alias, fitted.alias)
    assert np.array_equal(
        content.sample_real(50, np.random.default_rng(4))[1],
        model.sample(50, content.doc_length, np.random.default_rng(4))[1],
    )


def test_same_seed_same_truth_other_seed_other_words():
    a, b, c = space(5), space(5), space(6)
    assert np.array_equal(a.word_probs, b.word_probs)
    assert np.array_equal(a.topic_probs, b.topic_probs)
    assert not np.array_equal(a.word_probs, c.word_probs)
    assert np.array_equal(a.topic_probs, c.topic_probs)  # popularity is the Zipf law, not drawn


def test_specificity_zero_gives_every_topic_the_base_vocabulary():
    content = space(topic_specificity=0.0, word_zipf=1.0)
    np.testing.assert_allclose(content.word_probs, np.tile(zipf(300, 1.0), (40, 1)), rtol=1e-12)


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2, 0.5, 0.9])
def test_tail_topics_are_the_rarest_holding_at_most_the_fraction(fraction):
    content = space()
    p = content.topic_probs
    tail = content.tail_topics(fraction)
    assert tail.dtype == bool and tail.any()
    assert p[tail].max() < p[~tail].min()  # the rarest topics
    if tail.sum() > 1:
        assert p[tail].sum() <= fraction
    # Maximal: adding the next rarest topic would exceed the fraction.
    assert p[tail].sum() + p[~tail].min() > fraction


def test_tail_topics_keep_one_topic_when_even_the_rarest_is_too_heavy():
    tail = space().tail_topics(1e-6)
    assert tail.sum() == 1 and tail[39]


def test_real_documents_follow_p_star():
    content = space()
    n = 4000
    topics, tokens = content.sample_real(n, np.random.default_rng(11))
    assert topics.shape == (n,) and tokens.shape == (n, 16)
    p = content.topic_probs
    counts = np.bincount(topics, minlength=40)
    assert np.all(np.abs(counts - n * p) < 4 * np.sqrt(n * p * (1 - p)))
    # Words of the most common topic against its row of p*, on its ten likeliest words.
    words = tokens[topics == 0].ravel()
    q = content.word_probs[0]
    top = np.argsort(q)[::-1][:10]
    m = words.size
    hits = np.array([np.count_nonzero(words == w) for w in top])
    assert np.all(np.abs(hits - m * q[top]) < 4 * np.sqrt(m * q[top] * (1 - q[top])))


def test_real_words_are_drawn_for_the_given_topics():
    content = space()
    topics = np.array([3, 3, 17])
    words = content.sample_real_words(topics, 7, np.random.default_rng(0))
    assert words.shape == (3, 7) and words.dtype == content.token_dtype
    assert np.all(content.word_probs[topics[:, None], words] > 0)


@pytest.mark.parametrize(
    "n_words,dtype", [(300, np.uint16), (65536, np.uint16), (65537, np.uint32)]
)
def test_token_dtype_is_the_smallest_that_holds_the_vocabulary(n_words, dtype):
    content = space(n_words=n_words, n_topics=2, doc_length=4)
    assert content.token_dtype is dtype
    _, tokens = content.sample_real(500, np.random.default_rng(0))
    assert tokens.dtype == dtype and tokens.max() < n_words


def test_wordfreq_base_reads_word_frequency_exactly_from_the_table():
    import wordfreq

    from simulation.content import three_significant_digits, wordfreq_base

    words, base = wordfreq_base(20_000)
    sample = words[::7]  # 2,858 words across the whole list: a second of lookups
    expected = np.array([wordfreq.word_frequency(w, "en") for w in sample])
    table = wordfreq.get_frequency_dict("en")
    raw = np.array([table[w] for w in sample])
    assert not np.array_equal(raw, expected)  # the table is finer: the rounding matters
    assert np.array_equal([three_significant_digits(f) for f in raw], expected)
    freq = np.array([three_significant_digits(table[w]) for w in words])
    assert np.array_equal(base, freq / freq.sum())


def test_shared_world_is_read_only_and_rebuilt_identically():
    from simulation.scenario import load
    from simulation.world import build_world, world_of

    scenario = load("scenarios/baseline.yaml", ["content.n_words=300", "content.n_topics=20"])
    world = world_of(scenario)
    assert world_of(scenario) is world  # built once per process
    with pytest.raises(ValueError, match="read-only"):
        world.content.word_probs[0, 0] = 0.5
    fresh = build_world.__wrapped__(scenario.seed, scenario.content)
    assert np.array_equal(fresh.content.word_probs, world.content.word_probs)
    assert np.array_equal(fresh.held_out_tokens, world.held_out_tokens)
