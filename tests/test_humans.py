"""HumanPopulation, the vectorised human writers: reading (exposure), copying, forgetting,
writing, and homogenisation; row-level rules against closed forms, then whole-run effects."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.corpus import Documents
from simulation.generative.sparse import lookup
from simulation.model import WebEcosystem
from tests.conftest import finals, mean_after_run, small_scenario, stepped


def reading(model: WebEcosystem, per_site: np.ndarray, ai_fraction, topic=0) -> Documents:
    """A reading window with `per_site[j]` documents on site j and the given ai_fraction(s)."""
    site = np.repeat(np.arange(model.network.n_sites), per_site)
    n, length = site.size, model.content.doc_length
    tokens = np.zeros((n, length), dtype=model.content.token_dtype)
    return Documents.new(
        np.broadcast_to(topic, (n,)), tokens, site, model.steps, ai_fraction=ai_fraction
    )


def humans_of(**humans) -> WebEcosystem:
    """The small scenario's model at step 0 with the given `humans` settings."""
    return stepped(small_scenario(humans=humans))


def test_reading_without_copying_or_forgetting_changes_nothing():
    model = humans_of(copy_rate=0.0, forget_rate=0.0)
    pop = model.humans
    before = pop.topics.copy(), pop.weights.copy(), pop.assist.copy()
    rng = np.random.default_rng(1)
    docs = reading(model, np.full(60, 20), rng.random(1200), topic=rng.integers(40, size=1200))
    pop.read(docs, model.ai_models)
    for old, new in zip(before, (pop.topics, pop.weights, pop.assist), strict=True):
        assert np.array_equal(old, new)


def test_assist_grows_by_copy_rate_times_exposure_times_headroom():
    c = 0.3
    model = humans_of(copy_rate=c, forget_rate=0.0)
    pop, net = model.humans, model.network
    rng = np.random.default_rng(2)
    per_site = rng.integers(0, 6, size=60)
    docs = reading(model, per_site, rng.random(per_site.sum()).astype(np.float32))
    # Exposure from first principles: the model-written share of all documents on the site
    # and the sites it links to.
    ai_words = np.bincount(docs.site, weights=docs.ai_fraction, minlength=60)
    exposure = np.zeros(60)
    for i in range(60):
        around = [i, *net.graph.successors(i)]
        if per_site[around].sum():
            exposure[i] = ai_words[around].sum() / per_site[around].sum()
    a = rng.random(len(pop))
    pop.assist = a.copy()
    pop.read(docs, model.ai_models)
    np.testing.assert_allclose(pop.assist, a + c * exposure[pop.site] * (1 - a), rtol=1e-12)
    assert exposure.std() > 0.05  # sites differ: the reading matrix matters


def test_full_exposure_copies_an_assistant_topic_into_the_weakest_slot():
    model = humans_of(copy_rate=1.0, forget_rate=0.0)
    pop = model.humans
    topics, weights = pop.topics.copy(), pop.weights.copy()
    pop.read(reading(model, np.full(60, 5), 1.0), model.ai_models)  # exposure 1 everywhere
    np.testing.assert_allclose(pop.assist, 1.0, rtol=1e-15)
    rows = np.arange(len(pop))
    weakest = np.argmin(weights, axis=1)
    others = np.ones_like(weights, dtype=bool)
    others[rows, weakest] = False
    assert np.array_equal(pop.topics[others], topics[others])
    k = weights.shape[1]
    expected = weights.copy()
    expected[rows, weakest] = 1 / k
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pop.weights, expected, rtol=1e-12)
    for m, ai in enumerate(model.ai_models):
        mine = pop.assistant == m
        assert np.all(ai.generator.topic_probs_[pop.topics[rows, weakest][mine]] > 0)


def test_forgetting_replaces_fading_topics_by_what_is_read():
    model = humans_of(copy_rate=0.0, forget_rate=1.0)
    pop = model.humans
    assert np.any(pop.topics != 0)
    # Only topic 0 is read: every other topic fades completely, topic 0 not at all.
    pop.read(reading(model, np.full(60, 5), 0.0, topic=0), model.ai_models)
    assert np.all(pop.topics == 0)


def test_forgetting_keeps_topics_read_at_least_as_often_as_in_reality():
    model = humans_of(copy_rate=0.0, forget_rate=1.0)
    pop = model.humans
    # A window read exactly at p*'s rounded shares (plus one of each): no topic fades much.
    p = model.content.topic_probs
    counts = np.round(p * 100_000).astype(int) + 1
    topics = np.repeat(np.arange(40), counts)
    per_site = np.bincount(np.arange(topics.size) % 60, minlength=60)
    docs = reading(model, per_site, 0.0, topic=topics)
    before = pop.topics.copy()
    pop.read(docs, model.ai_models)
    fading = np.clip(1 - (counts / counts.sum()) / p, 0, 1)
    assert fading.max() < 0.01
    assert np.mean(pop.topics != before) < 0.01


@pytest.mark.parametrize("assist_words", [0.3, 0.5, 1.0, 0.02, 0.0])
def test_write_puts_documents_on_the_authors_sites_with_exact_model_shares(assist_words):
    model = humans_of(assist_words=assist_words)
    pop = model.humans
    length = model.content.doc_length
    pop.assist = (np.arange(len(pop)) % 2).astype(np.float64)  # odd writers always draft
    n = 3000
    docs = pop.write(n, 4, model.ai_models)
    assert len(docs) == n and docs.tokens.shape == (n, length)
    assert docs.tokens.dtype == model.content.token_dtype
    assert (docs.step == 4).all() and not docs.synthetic.any() and (docs.ai_author == -1).all()
    assert np.array_equal(docs.site, pop.site[docs.author])
    assert np.all((docs.topic[:, None] == pop.topics[docs.author]).any(axis=1))
    n_model = round(assist_words * length)
    drafting = pop.assist[docs.author] == 1
    assert np.all(docs.ai_fraction[drafting] == np.float32(n_model / length))
    assert np.all(docs.ai_fraction[~drafting] == 0.0)
    # The first `n_model` words of a drafted document come from the author's assistant.
    for m, ai in enumerate(model.ai_models):
        mine = np.flatnonzero(drafting & (pop.assistant[docs.author] == m))
        words = docs.tokens[mine, :n_model]
        rows = np.broadcast_to(docs.topic[mine, None], words.shape)
        assert np.all(lookup(ai.generator.word_probs_, rows, words) > 0)


def test_assisted_share_of_written_documents_is_the_mean_assist():
    model = humans_of(assist_words=0.5)
    pop = model.humans
    pop.assist = np.random.default_rng(3).random(len(pop)) ** 2
    n = 20_000
    share = np.mean(pop.write(n, 1, model.ai_models).ai_fraction > 0)
    p = pop.assist.mean()
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_writers_pick_interest_slots_by_weight(small_model):
    pop = small_model.humans
    pop.topics[:] = [0, 1, 2]  # one topic per slot: a document's topic is its slot
    n = 20_000
    docs = pop.write(n, 1, small_model.ai_models)
    p = pop.weights.mean(axis=0)  # authors are uniform over writers
    share = np.bincount(docs.topic, minlength=3)[:3] / n
    assert np.all(np.abs(share - p) < 4 * np.sqrt(p * (1 - p) / n))


def test_homogenization_of_identical_and_of_disjoint_mixtures(small_model):
    pop = small_model.humans
    n = len(pop)
    pop.topics[:] = [4, 9, 17]
    pop.weights[:] = [0.5, 0.3, 0.2]
    assert pop.homogenization() == pytest.approx(1.0)
    pop.topics[n // 2 :] = [5, 6, 7]  # two camps with nothing in common
    within = 2 * (n // 2) * (n // 2 - 1) / (n * (n - 1))
    assert pop.homogenization() == pytest.approx(within)


def test_copying_raises_assist_and_homogenises_humans():
    web = {"ai_share": 0.8}
    none = finals(4, humans={"copy_rate": 0.0, "ai_assist": 0.1}, web=web, models={"top_p": 0.7})
    copy = finals(4, humans={"copy_rate": 0.3, "ai_assist": 0.1}, web=web, models={"top_p": 0.7})
    assert (none["human_ai_assist"] == 0.1).all()
    assert copy["human_ai_assist"].mean() > 0.3
    # Same seeds in both arms: compare replication by replication.
    gain = copy["human_homogenization"].to_numpy() - none["human_homogenization"].to_numpy()
    assert (gain > 0.03).all(), gain


def tail_interest_share(model: WebEcosystem) -> float:
    return model.is_tail[model.humans.topics].mean()


def test_forgetting_drops_fading_tail_interests():
    common = {"web": {"ai_share": 0.9}, "models": {"top_p": 0.6}, "steps": 20}
    forget = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.3, "copy_rate": 0.0}, **common
    )
    keep = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.0, "copy_rate": 0.0}, **common
    )
    assert forget < 0.7 * keep


def test_assist_words_set_model_share_of_human_documents():
    scenario = small_scenario(
        steps=2, humans={"ai_assist": 1.0, "assist_words": 0.25, "copy_rate": 0.0}
    )
    model = stepped(scenario, 1)
    human = model.recent  # window 1: the documents of step 1
    assert (human.step == 1).all()
    human = human.take(~human.synthetic)
    assert np.all(human.ai_fraction == 0.25)
